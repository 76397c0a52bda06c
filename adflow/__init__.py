"""adflow: exact derivatives of loop-heavy numerical Python, at compiled speed.

Reverse mode by source transformation (``grad``, ``value_and_grad``, ``vjp``), forward mode by
dual numbers (``jvp``), Jacobians that pick their mode (``jacobian``), and ``hessian``/``hvp``.
Generated code is compiled by numba for the CPU (default), CUDA, or run as plain Python.  The
transforms compose up to second derivatives (``jacobian(grad(f))``, ``grad(f)`` called inside a
differentiated function): :mod:`adflow.compose`.

The code is layered; each layer imports only from itself and the layers before it, at module
level (docs/architecture.md draws them, tests/test_layers.py checks them):

    errors < syntax < rules < dual numbers < runtime < front end < transforms < targets < pipeline
    < entry points < package and tools < integrations

Feedback on long work: the logger ``adflow`` reports every build's time per
stage (pipeline/build_report.py), a notice on stderr says when a build at a prompt takes long
(:func:`build_notices`), and :mod:`adflow.cache` shows and clears the disk cache.
"""
__version__ = "0.1.0"

from .errors import (AdflowError, ArgumentError, MissingDependencyError, NonDifferentiableError,  # noqa: E402
                     ShapeError, SourceUnavailableError, TypingError, UnsupportedSyntaxError)
from .api import grad, value_and_grad, vjp  # noqa: E402
from .jacobian import hessian, hvp, jacobian, plan  # noqa: E402
from .forward.api import jvp  # noqa: E402
from .rules.custom import custom_jvp, custom_vjp  # noqa: E402
from .pickling import register_transforms  # noqa: E402
from .pipeline.notice import build_notices  # noqa: E402
from . import cache  # noqa: E402

register_transforms(grad=grad, value_and_grad=value_and_grad, jacobian=jacobian, hessian=hessian)

__all__ = [
    "grad", "value_and_grad", "vjp", "jvp", "jacobian", "hessian", "hvp", "plan", "custom_vjp", "custom_jvp",
    "build_notices", "cache",
    "AdflowError", "ArgumentError", "UnsupportedSyntaxError", "NonDifferentiableError", "ShapeError",
    "SourceUnavailableError", "TypingError", "MissingDependencyError",
]
