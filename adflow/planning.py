"""Which mode a Jacobian uses, and how many passes: decided from the sizes alone, before any build.

Forward mode pushes ``k`` input directions per pass (``ceil(n / k)`` passes); reverse mode pulls
``k`` output directions per compiled sweep (``ceil(m / k)`` sweeps; the cotangent is a dual
carrying them: vector mode).  :func:`plan` compares the two costs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .pipeline.arguments import check_mode

# Relative costs used by the plan, in units of one evaluation of f.  A forward pass with k
# directions computes the value and k tangents; a reverse sweep with k cotangents (vector mode)
# runs the forward sweep once and the adjoint sweep on k-wide duals.  Measured roughly on the
# benchmark problems; only their ratio matters, and only near the break-even point.
TANGENT_COST = 0.6
ADJOINT_COST = 2.0


# ForwardDiff.jl stops at 12 directions per pass because its tangents live in stack tuples.
# adflow's dual arrays keep them in a trailing array axis, where 16 directions per pass still
# cost little more than 8 (a row-wise MLP with 16 inputs: one pass of 16 took 11.7 ms, two of 8
# took 18.9 ms), and each pass saved is one more evaluation of the function saved.
MAX_DEFAULT_CHUNK = 16

# For row-wise Jacobians, how many times cheaper forward passes in blocks of rows are than the plan's
# per-row estimate, relative to per-row reverse sweeps.  Measured on an MLP row (64 hidden units),
# 2000 rows, time in blocks against compiled per-row sweeps: 16 inputs and 1, 2, 4 outputs 1.37 vs
# 2.27, 1.35 vs 4.56, 1.35 vs 4.83 ms; 32, 40, 64 inputs and 1 output 3.04 vs 3.01, 4.38 vs 3.15,
# 6.52 vs 4.31 ms.  The break-even factor in these runs lies between 4 and 9.
BLOCK_SPEEDUP = 6.0


# For row-wise Jacobians, what a reverse sweep costs for each row besides the arithmetic, in
# evaluations of the row function: the sweep allocates its tapes and adjoints for every row, which
# a row function of a few dozen operations does not amortise.  Measured (python -m
# benchmarks.auto_mode, 20,000 rows, forward vs reverse in ms): a bundle-adjustment row, 13 inputs
# and 2 outputs, 10.1 vs 16.2 (the plan without this term chose reverse); an array row of 40 inputs
# and 1 output in blocks, 1.14 vs 1.51 (the same); a loop row of 40 inputs and 1 output, 17.9 vs 9.7
# (reverse, still chosen with it).
ROW_SWEEP_OVERHEAD = 8.0


def default_chunk(n: int) -> int:
    """All directions at once up to MAX_DEFAULT_CHUNK, else the most even split into passes."""
    if n <= MAX_DEFAULT_CHUNK:
        return max(n, 1)
    passes = math.ceil(n / MAX_DEFAULT_CHUNK)
    return math.ceil(n / passes)


@dataclass(frozen=True)
class Plan:
    """Which mode a Jacobian uses, how many passes, and why."""

    mode: str
    passes: int
    chunk: int
    inputs: int
    outputs: int
    forward_cost: float
    reverse_cost: float
    block: int = 0  # row-wise Jacobians: rows per block (0: one row at a time)
    unblocked: str | None = None  # row-wise forward Jacobians: why not in blocks of rows

    def __str__(self) -> str:
        if self.mode == "forward (sparse)":
            return (f"forward mode on the sparsity pattern: {int(self.forward_cost)} colours in {self.passes} "
                    f"pass{'es' if self.passes != 1 else ''} ({self.inputs} inputs, {self.outputs} outputs)")
        carried = "input" if self.mode == "forward" else "output"
        rows = ""
        if self.block:
            rows = f"; rows in blocks of {self.block}"
        elif self.unblocked:
            rows = f"; rows one at a time ({self.unblocked})"
        return (f"{self.mode} mode, {self.passes} pass{'es' if self.passes != 1 else ''} of {self.chunk} "
                f"{carried} direction{'s' if self.chunk != 1 else ''} "
                f"({self.inputs} inputs, {self.outputs} outputs; estimated cost in evaluations of f: "
                f"forward {self.forward_cost:.1f}, reverse {self.reverse_cost:.1f}){rows}")


def plan(inputs: int, outputs: int, mode: str = "auto", chunk: int | None = None, rows: bool = False) -> Plan:
    """The cheaper of ``ceil(n/k)`` forward passes and ``ceil(m/k)`` reverse sweeps (or the mode asked for).

    Each forward pass pushes k input directions, each reverse sweep pulls k output directions
    (``chunk``, else ``default_chunk`` of the number of inputs or outputs).  This is
    what ``jacobian(f)`` decides at its first call; ask it here without building anything.
    ``rows``: the Jacobian of one row of ``jacobian(f, batch=True)``, whose reverse sweeps each
    cost :data:`ROW_SWEEP_OVERHEAD` more.

    >>> import adflow
    >>> p = adflow.plan(1000, 3)  # many inputs, few outputs: one reverse sweep pulls all 3 outputs
    >>> p.mode, p.passes, p.chunk
    ('reverse', 1, 3)
    >>> adflow.plan(1000, 3, mode="forward").passes  # 16 input directions per pass: ceil(1000 / 16)
    63
    """
    check_mode(mode)
    k_forward = chunk or default_chunk(inputs)
    k_reverse = chunk or default_chunk(outputs)
    forward_passes = math.ceil(inputs / k_forward)
    reverse_passes = math.ceil(outputs / k_reverse)
    forward_cost = forward_passes * (1.0 + TANGENT_COST * k_forward)
    reverse_cost = reverse_passes * (1.0 + ADJOINT_COST * k_reverse + (ROW_SWEEP_OVERHEAD if rows else 0.0))
    if mode == "auto":
        mode = "forward" if forward_cost <= reverse_cost else "reverse"
    if mode == "forward":
        return Plan(mode, forward_passes, k_forward, inputs, outputs, forward_cost, reverse_cost)
    return Plan(mode, reverse_passes, k_reverse, inputs, outputs, forward_cost, reverse_cost)
