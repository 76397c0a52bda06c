"""benchmarks/gradbench/compare.py: its summary on made-up sessions, and (with a GradBench clone
named by ``GRADBENCH_DIR``) one tiny real session of GradBench's lse eval against each tool."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from benchmarks.gradbench import compare


def _record(function, size, evaluate, valid=True, **timings):
    return {"function": function, "size": size, "success": True, "valid": valid, "wall": sum(evaluate),
            "timings": {"evaluate": evaluate, **{k: [v] for k, v in timings.items()}}}


def test_summary_and_table():
    sessions = [
        {"eval": "lse", "tool": "adflow", "records": [_record("primal", "n=4", [2e6, 4e6, 3e6], compile=9e8)]},
        {"eval": "lse", "tool": "jax", "records": [_record("primal", "n=4", [5e8, 1e6, 1e6], valid=False)]},
        {"eval": "lse", "tool": "jax", "records": [_record("primal", "n=4", [5e8, 2e6, 2e6])]},
    ]
    (row,) = compare.summarise(sessions)
    assert row["adflow"]["steady"] == [3e6] and row["adflow"]["first"] == [9e8]
    assert row["jax"]["steady"] == [1e6, 2e6]  # JAX's first run (its compile) left out
    assert row["jax"]["first"] == [5e8, 5e8] and row["jax"]["verdicts"] == ["x", "V"]
    line = compare.table([row]).splitlines()[-1]
    assert line == "| lse | n=4 | primal | V / Vx / - | 3 | 1.5 | - | 2.00 | - | 900 / 500 / - |"


GRADBENCH = os.environ.get("GRADBENCH_DIR")


@pytest.mark.skipif(not GRADBENCH or not (Path(GRADBENCH) / "tools/manual/bin/lse").exists(),
                    reason="needs GRADBENCH_DIR: a clone of gradbench/gradbench with tools/manual built")
@pytest.mark.parametrize("tool", ["adflow", "jax-blocking"])
def test_lse_session(tool):
    if tool != "adflow" and importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    s = compare.session(Path(GRADBENCH), "lse", ["-n", "10", "--min-runs", "2", "--min-seconds", "0"], tool, None)
    assert [(r["function"], r["size"], r["success"], r["valid"]) for r in s["records"]] == \
        [("primal", "n=10", True, True), ("gradient", "n=10", True, True)]
    assert all(len(r["timings"]["evaluate"]) >= 2 for r in s["records"])
