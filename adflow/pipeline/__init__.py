"""The pipeline from a user function to a compiled derivative, one specialisation at a time.

parse -> fence -> normalise -> remove early exits -> infer types (:mod:`.prepared`) -> transform
-> the target's passes -> emit -> write and load -> the target compiles (:mod:`.build`).  Helpers
the function calls go through the same pipeline and land in the same module.  :mod:`.cache`
builds each specialisation once per process, :mod:`.arguments` checks what the entry points
accept, :mod:`.compile_errors` says numba's refusals at the user's line, and
:mod:`.custom_rules` writes the functions of user rules.
"""
from .build import (ModuleBuilder, build_forward, build_reverse, build_row_blocks, cached_forward,
                    cached_row_blocks)
from .compile_errors import call_compiled

__all__ = ["ModuleBuilder", "build_forward", "build_reverse", "build_row_blocks", "cached_forward",
           "cached_row_blocks", "call_compiled"]
