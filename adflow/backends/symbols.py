"""Distinct machine-code names for the functions adflow writes at run time.

numba names compiled code after the function's module, its qualified name, its argument types and
a counter that starts again in every process.  Functions adflow makes from one template (a rule per
primitive, a loop per ndim, a fill per vector function) would all be called ``impl`` or ``fill``:
two cached modules compiled in different processes could then hold different code under one name,
and once both are loaded into a process, calls from the second go to the first's code.  It happened:
a cached row-wise Jacobian computed ``sin`` with the ``tanh`` fill of another cached module, a wrong
number with no error.  ``distinct`` names each generated function after what makes it different.
"""
from __future__ import annotations

import hashlib
import re


def distinct(function, *parts):
    """``function``, renamed ``<name>__<first part>__<hash of all parts>`` (parts: what it was made from)."""
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:12]
    tag = re.sub(r"\W+", "_", str(parts[0]) if parts else "").strip("_")[:40]
    function.__name__ = function.__qualname__ = f"{function.__name__.strip('<>')}__{tag}__{digest}"
    return function


def exec_function(source: str, namespace: dict, label: str, name: str = "impl"):
    """Run ``source`` (which defines ``name``) in ``namespace``; the function, named after ``label``
    and ``source`` (the namespace's values must be named by ``label``)."""
    exec(compile(source, f"<adflow {label}>", "exec"), namespace)
    return distinct(namespace[name], label, source)
