"""Publish a benchmark run: ``python -m benchmarks.publish [RESULTS_DIR]``.

Copies ``latest.json`` and ``latest.png`` of a run (default ``benchmarks/results/``) to
``docs/benchmarks/`` and rewrites the README's benchmark section (between its two markers) with
the chart, the machine and date, and the summary table.  Run results stay out of git
(``benchmarks/results/`` is ignored); a published snapshot is committed on purpose, so the README
and every documentation build show the same figures, with where and when they were measured.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from .markdown import machine_lines, summary

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT / "docs" / "benchmarks"
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"


def readme_section(data: dict) -> str:
    """The README's benchmark section: chart, summary table, and where it was measured."""
    s = data.get("settings", {})
    lines = [
        START,
        "![adflow benchmarks: derivative time / numba primal time, log scale](docs/benchmarks/latest.png)",
        "",
        "Derivative time / numba-compiled primal time, best column of each tool (lower is better; "
        f"`python -m benchmarks`, {s.get('mode', '?')} run, median of {s.get('repeats', '?')} paired ratios):",
        "",
        *summary(data),
        "`~`: a slow peer measured at a smaller size and scaled linearly (hatched in the chart).",
        "",
        *machine_lines(data),
        "",
        "Every column, first-call (compile) times and the hand-written references: "
        "[docs/performance.md](docs/performance.md) (rendered in the documentation site).",
        END,
    ]
    return "\n".join(lines)


def replace_section(text: str, section: str) -> str:
    if START not in text or END not in text:
        raise SystemExit(f"README.md has no {START} ... {END} section to replace")
    head, rest = text.split(START, 1)
    return head + section + rest.split(END, 1)[1]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    results = Path(argv[0]) if argv else ROOT / "benchmarks" / "results"
    data = json.loads((results / "latest.json").read_text())
    PUBLISHED.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(results / "latest.json", PUBLISHED / "latest.json")
    if (results / "latest.png").is_file():
        shutil.copyfile(results / "latest.png", PUBLISHED / "latest.png")
    readme = ROOT / "README.md"
    readme.write_text(replace_section(readme.read_text(), readme_section(data)))
    print(f"published {results / 'latest.json'} to {PUBLISHED} and README.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
