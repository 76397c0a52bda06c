"""A random-program fuzzer for adflow: "correct or loud".

It writes random, well-formed numerical Python functions to real files, imports them, and checks
every derivative API of adflow on them against finite differences and against each other.

The grammar (:class:`ProgramGenerator`):

* control flow: loops, nested loops, ``while`` with bounded trip counts, ``break``/``continue``,
  early ``return``, ``if``/``elif``/``else`` on values, conditional expressions;
* arguments given new values (:data:`REBIND_A`, :data:`REBIND_X`, :data:`REBIND_M`):
  ``a = a * 3.0``, ``a *= 2.0``, ``a = np.sin(a)``, ``a = float(a)``,
  ``x = x / np.sqrt(np.sum(x * x))``, ``x = x.copy()``, ``x = np.asarray(x)``, ``x = x[::-1]``,
  ``M = M.T``, ... as the first statement, in straight-line code, in branches, before loops and
  (damped) in loop bodies; ``x = x[1:]`` and other shortenings last; tuple swaps
  (``a, s0 = s0, a * s0``, ``x, b = b, x * 0.5``); locals computed from themselves (``s = s * s``)
  or rebound to views of themselves (``b = b[::-1]``, ``b = np.asarray(b)``, ``b = b.ravel()``);
* arrays: element, slice and overlapping-slice writes, ``+=``, writes into the arguments, an
  array made, written into, read and made again by the same statement (``b = x * a; b[0] = ...;
  s0 = s0 + 0.5 * np.sum(b * b); b = x * a``),
  ``np.where``/``np.clip``/``np.maximum``/``np.minimum``, reductions, ``reshape``;
* matrices (an ``n x n`` argument ``M`` and a local ``P``): ``@``, ``np.dot``, ``np.outer``,
  ``.T``, ``np.trace``, ``np.linalg.solve``/``inv``/``det`` (of ``M + 5I``: well conditioned,
  since entries stay in [-1, 1]), row and element writes;
* calls to a fixed set of helper functions, math kept inside its domain;
* signatures (:class:`Signature`): ``(x, a, n)`` or ``(x, M, a, n)``; float64 or float32 arrays
  (float32 programs are straight-line and without matrices: numba would not compile more);
  outputs a number, an array (1-D, or 2-D from matrices) or a tuple of a number and an array.

The checks (:func:`check_program`), each an adflow API on every target asked for:

* ``value_and_grad`` and ``grad`` (numbers only), ``vjp`` (any output, random cotangent ``v``),
  ``jvp`` (not tuples, random tangent ``t``), ``hvp`` (numbers only, with respect to ``x``) and
  ``jacobian`` in one or two variants drawn with the program (``mode`` auto/forward/reverse,
  ``sparsity="auto"``, ``batch=True`` on two rows; with respect to ``x``, ``M`` or ``a``);
* ``grad`` with ``checkpoint=2`` (numbers only) gives the full tape's gradient to rounding, where
  the program has a loop at its top level to checkpoint;
* each returns the function's value, leaves the caller's arrays alone, and gives finite
  derivatives shaped and typed like their arguments (float32 stays float32);
* each agrees with central finite differences of the function: the gradient, ``v^T J``, ``J t``
  and the Jacobian entries; the Hessian-vector product with differences of the float64 gradient.
  Every entry has its own error bound from differences at two steps (:func:`reference`), not one
  scaled by the largest entry; entries whose two steps disagree (a kink within the step) are left
  out and counted;
* ``target="python"`` and ``target="cpu"`` agree to rounding, ``grad`` agrees with
  ``value_and_grad``, and ``jvp`` and ``vjp`` pass the dot-product test ``<v, J t> == <J^T v, t>``;
* every generated program is valid Python, so any error is a finding, except an
  :class:`adflow.AdflowError` that names the program's line and is one of :data:`REFUSALS` (a
  construct adflow refuses on purpose: "correct or loud").

Constructs that reach a known defect (:data:`KNOWN_DEFECTS`, each pinned by a strict xfail in
``tests/test_regressions.py``) are avoided by default, so that a failure is a new defect.

Used two ways:

* from the tests (``tests/test_fuzz.py``), through the hypothesis strategy :func:`programs`, so a
  failing program is shrunk to a small one;
* as a long campaign from the command line, which keeps going after failures and groups them::

      python -m adflow.fuzz --examples 5000 --cpu-every 20 --jobs 2 --out fuzz-findings

Generated programs look like this (``x`` a float array of length 4, ``a`` a float, ``n == 4``)::

    def prog(x, a, n):
        a = a * 3.0
        s0 = 0.5
        s1 = a * x[0]
        b = x.copy()
        for i0 in range(n):
            if math.sin(x[i0]) > 0.25:
                b[i0] += 0.5 * math.tanh(s0 * x[i0])
                continue
            s0 = 0.5 * s0 + math.atan(fz_soft(b[i0]))
        x = x / np.sqrt(np.sum(x * x))
        return s0 + 0.5 * s1 + 0.25 * np.sum(b * b), b * s0 + x

The modules, one job each: :mod:`.helpers` (the functions programs call), :mod:`.defects` (known
defects and refusals on purpose), :mod:`.drawers` (where choices come from), :mod:`.grammar` (the
forms and signatures), :mod:`.generator` (one random function), :mod:`.programs` (a program, its
inputs, drawing and loading it), :mod:`.differences` (finite differences with error bounds),
:mod:`.checks` (the checks of one program), :mod:`.campaign`, :mod:`.minimize` and :mod:`.cli`
(``python -m adflow.fuzz``).  The names below are the fuzzer's interface, and generated programs
import the helpers from here.
"""
from .campaign import campaign
from .checks import CHECKS, Finding, Outcome, check_program
from .cli import main
from .defects import DEFECT_FORMS, DEFECT_SEEDS, KNOWN_DEFECTS, REFUSALS
from .differences import Reference, flatten, reference, unflatten
from .drawers import HypothesisDrawer, RandomDrawer
from .generator import ProgramGenerator
from .grammar import N, OUTPUTS, Signature, draw_signature
from .helpers import (HEADER, HELPER_NAMES, fz_branchy, fz_loop, fz_mix, fz_nested, fz_norm2, fz_rat, fz_smooth,
                      fz_soft)
from .minimize import minimize
from .programs import JACOBIAN_VARIANTS, Loader, Program, draw_program, programs

__all__ = [
    "campaign", "CHECKS", "Finding", "Outcome", "check_program", "main", "KNOWN_DEFECTS", "DEFECT_FORMS", "DEFECT_SEEDS", "REFUSALS", "Reference",
    "flatten", "reference", "unflatten", "HypothesisDrawer", "RandomDrawer", "ProgramGenerator", "N", "OUTPUTS",
    "Signature", "draw_signature", "HEADER", "HELPER_NAMES", "fz_branchy", "fz_loop", "fz_mix", "fz_nested", "fz_norm2",
    "fz_rat", "fz_smooth", "fz_soft", "minimize", "JACOBIAN_VARIANTS", "Loader", "Program", "draw_program", "programs",
]
