"""A generated program with its inputs and the Jacobian variants it is checked with, how programs are
drawn (from a seed or as a hypothesis strategy), and the loader that writes them to files and imports them."""
from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass

import numpy as np

from .defects import KNOWN_DEFECTS
from .drawers import HypothesisDrawer
from .generator import ProgramGenerator
from .grammar import N, draw_signature
from .helpers import HEADER


# "batch": batch=True (mode auto, forward passes over blocks of rows where it can); "batch-reverse":
# with mode="reverse" (a reverse sweep per row).
JACOBIAN_VARIANTS = ["auto", "forward", "reverse", "sparse", "batch", "batch-reverse"]


@dataclass
class Program:
    source: str  # the function's text (without the module header)
    name: str
    x: np.ndarray
    a: float
    n: int = N
    M: np.ndarray | None = None  # the matrix argument, for programs that take one
    float32: bool = False  # x and M are passed as float32
    jacobians: tuple = ()  # (variant, wrt) pairs adflow.jacobian is checked with; variants: JACOBIAN_VARIANTS

    def args(self, dtype=None):
        """Fresh copies of the arguments (programs write into them); ``dtype`` overrides the arrays'."""
        dtype = dtype or (np.float32 if self.float32 else np.float64)
        arrays = (self.x,) if self.M is None else (self.x, self.M)
        return tuple(np.array(v, dtype=dtype) for v in arrays) + (float(self.a), self.n)

    def wrt(self):
        """The differentiated arguments: every float one (all but n)."""
        return tuple(range(2 if self.M is None else 3))

    def coordinate_names(self):
        names = [f"x[{j}]" for j in range(N)]
        if self.M is not None:
            names += [f"M[{i}, {j}]" for i in range(N) for j in range(N)]
        return names + ["a"]

    def module_text(self):
        return HEADER + "\n\n" + self.source

    def inputs_text(self):
        text = f"x = np.{self.x!r}; a = {self.a!r}; n = {self.n}"
        if self.M is not None:
            text += f"; M = np.{self.M!r}"
        if self.float32:
            text += " (x, M as float32)"
        return text + (f"; jacobians {self.jacobians}" if self.jacobians else "")

    def __repr__(self):  # what hypothesis prints for a failing example
        return f"Program({self.inputs_text()}):\n" + self.source


def _inputs(d):
    # Values away from 0 and from simple fractions: kinks (abs at 0, max ties, thresholds) are hit
    # only by accident.
    x = np.array([d.integer(-100, 100) / 100.0 + 0.0123 * (k + 1) for k in range(N)])
    a = d.integer(-150, 150) / 100.0 + 0.0071
    return x, a


def _matrix(d):
    """An n x n matrix with entries in [-1, 1] (the generator's matrix forms keep them there)."""
    return np.array([[d.integer(-90, 90) / 100.0 + 0.0037 * (i + 2 * j + 1) for j in range(N)] for i in range(N)])


def _jacobian_variants(d, signature):
    """One or two ways to call adflow.jacobian, each with the argument it differentiates."""
    if signature.output == "tuple":
        return ()  # jacobian refuses tuple outputs (docs/subset.md)
    scalar = signature.output == "scalar"
    chosen = []
    for _ in range(1 if scalar else 2):
        variant = d.choice(JACOBIAN_VARIANTS)
        others = [1, 2] if signature.matrix else [1]  # M, a
        # batch=True maps rows of x to rows of the Jacobian: only x (1-D) has rows.
        chosen.append((variant, 0 if variant.startswith("batch") else d.choice([0] + others)))
    return tuple(chosen)


def draw_program(d, name="prog", avoid=frozenset()) -> Program:
    signature = draw_signature(d)
    source = ProgramGenerator(d, name, avoid=avoid, signature=signature).generate()
    x, a = _inputs(d)
    M = _matrix(d) if signature.matrix else None
    return Program(source, name, x, a, M=M, float32=signature.float32, jacobians=_jacobian_variants(d, signature))


def programs(avoid=frozenset(KNOWN_DEFECTS)):
    """A hypothesis strategy of :class:`Program` objects (by default avoiding known defects)."""
    from hypothesis import strategies as st

    @st.composite
    def _programs(draw):
        return draw_program(HypothesisDrawer(draw), avoid=avoid)
    return _programs()


class Loader:
    """Writes programs to real files (adflow reads source) and imports them."""

    def __init__(self, folder=None):
        self.folder = folder or tempfile.mkdtemp(prefix="adflow-fuzz-")
        self.count = 0

    def load(self, program: Program):
        text = program.module_text()
        self.count += 1
        digest = hashlib.sha1(text.encode()).hexdigest()[:12]
        modname = f"fuzzprog_{digest}_{self.count}"
        path = os.path.join(self.folder, modname + ".py")
        with open(path, "w") as fh:
            fh.write(text)
        spec = importlib.util.spec_from_file_location(modname, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return getattr(module, program.name), path
