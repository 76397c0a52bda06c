"""Markdown of benchmark results (the JSON ``python -m benchmarks`` writes): the tables of the
documentation's performance page and the summary the README carries.  Pure functions of the
JSON, so a published snapshot renders the same anywhere.
"""
from __future__ import annotations

import math

TOOL_NAMES = {"hand": "hand-written", "adflow": "adflow", "jax": "JAX", "torch": "PyTorch",
              "autograd": "autograd"}

def _seconds(s) -> str:
    if s is None or not isinstance(s, (int, float)) or not math.isfinite(s):
        return "-"
    if s >= 1.0:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


def _ratio(r) -> str:
    if r is None or not isinstance(r, (int, float)) or not math.isfinite(r):
        return "-"
    return f"{r:.3g}" if r < 1000 else f"{r:,.0f}"


def _size(d) -> str:
    if not isinstance(d, dict):
        return ""
    return ", ".join(f"{k} = {v:,}" if isinstance(v, int) else f"{k} = {v}" for k, v in d.items())


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _check(c) -> str:
    if c.get("check_err") is None:
        return ""
    if c.get("wrong"):
        return "**WRONG** " + _cell(c.get("check_msg", ""))
    return f"ok ({c['check_err']:.0e})"


def machine_lines(data: dict) -> list[str]:
    """Where and when the figures were measured: machine, date, commit, versions."""
    m = data.get("machine", {})
    versions = ", ".join(f"{k} {v}" for k, v in (m.get("versions") or {}).items())
    return [
        f"* machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, numba threads "
        f"{m.get('numba_threads', '?')}, load average {m.get('load_average_1min', '?')} when it started; "
        f"{m.get('platform', '')}",
        f"* run on {m.get('date', '?')}, adflow {m.get('adflow', '?')} at commit `{m.get('git_commit', '?')}`",
        f"* Python {m.get('python', '?')}; {versions}",
    ]


def summary(data: dict) -> list[str]:
    """The table of the best column of each tool per problem, as time / numba primal."""
    out = []
    problems = data.get("problems") or []
    tools = [t for t in TOOL_NAMES if any(c.get("tool") == t for p in problems for c in p.get("columns", []))]
    if problems:
        first = "adflow" in tools
        out += ["| problem | " + " | ".join(TOOL_NAMES[t] for t in tools) + (" | adflow first call |" if first else " |"),
                "|---|" + "---:|" * (len(tools) + first)]
        for p in problems:
            cells = []
            for t in tools:
                ok = [c for c in p.get("columns", []) if c.get("tool") == t and c.get("status") == "ok"
                      and not c.get("wrong") and isinstance(c.get("ratio"), (int, float))]
                if not ok:
                    cells.append("-")
                    continue
                best = min(ok, key=lambda c: c["ratio"])
                cells.append(_ratio(best["ratio"]) + ("~" if best.get("factor", 1.0) != 1.0 else ""))
            if first:  # transform and compile with an empty cache, of adflow's main column
                main = next((c for c in p.get("columns", []) if c.get("tool") == "adflow"), {})
                seconds = main.get("first_call_s")
                cells.append(f"{seconds:.2g} s" if isinstance(seconds, (int, float)) else "-")
            out.append(f"| {p.get('name', '?')} | " + " | ".join(cells) + " |")
        out.append("")
    return out


def render(data: dict) -> str:
    """The whole performance page: machine, summary, and every problem's table."""
    s = data.get("settings", {})
    out = [
        f"Results of `python -m benchmarks` ({s.get('mode', '?')} run, {s.get('repeats', '?')} repeats):",
        "",
        *machine_lines(data),
        "",
        "*x primal* is the median of paired ratios (each sample timed next to the numba-compiled primal "
        "function); *noise* half their interquartile range; *first call* includes transformation, tracing "
        "and compilation (or loading them from a cache).  `~` marks a figure measured at a smaller size and "
        "scaled linearly; see the benchmark's own report for the footnotes.",
        "",
    ]
    problems = data.get("problems") or []
    if problems:
        out += ["### Summary: best column of each tool, time / numba primal", "", *summary(data)]
    for p in problems:
        out += [f"### {p.get('name', '?')}: {_cell(p.get('title', ''))}", "",
                f"{_cell(p.get('derivative', ''))}; {_size(p.get('size'))}; checked at "
                f"{_size(p.get('check_size'))}.", "",
                "| column | first call | median | x primal | noise | check |",
                "|---|---:|---:|---:|---:|---|",
                f"| numba primal | {_seconds(p.get('primal_first_call_s'))} | "
                f"{_seconds(p.get('primal_median_s'))} | 1 | | |"]
        for c in p.get("columns", []):
            label = _cell(c.get("label", "?"))
            if c.get("status") != "ok":
                message = c.get("message") or ""
                status = _cell(c.get("status", "?") + (f": {message}" if message else ""))
                out.append(f"| {label} | {status} | | | | |")
                continue
            scaled = "~" if c.get("factor", 1.0) != 1.0 else ""
            spread = c.get("spread")
            noise = f"±{100 * spread:.0f}%" if isinstance(spread, (int, float)) else ""
            out.append(f"| {label} | {_seconds(c.get('first_call_s'))} | {_seconds(c.get('median_s'))} | "
                       f"{_ratio(c.get('ratio'))}{scaled} | {noise} | {_check(c)} |")
        notes = p.get("notes") or []
        out += [""] + [f"* {_cell(n)}" for n in notes] + ([""] if notes else [])
    return "\n".join(out) + "\n"


