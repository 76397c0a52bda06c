"""Reporting: machine header, per-problem tables, a summary, JSON and a PNG bar chart."""
from __future__ import annotations

import dataclasses
import datetime
import importlib
import importlib.metadata
import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path

from .core import TOOL_NAMES, TOOLS
from .runner import ColumnResult, ProblemResult, Settings
from .timing import fmt_seconds

PACKAGES = ("numpy", "numba", "scipy", "jax", "jaxlib", "torch", "autograd", "matplotlib")


# --- machine information ------------------------------------------------------------------------

def _cpu_model() -> str:
    """The CPU's name, with family and model numbers when the name is as vague as "AMD EPYC"."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name


def _version(pkg: str) -> str | None:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return None


def _adflow_version() -> str:
    try:
        mod = importlib.import_module("adflow")
        return str(getattr(mod, "__version__", "unknown"))
    except Exception as exc:  # noqa: BLE001 - the package is being written
        return f"not importable ({type(exc).__name__})"


def _git(*args: str) -> str | None:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _git_commit() -> str | None:
    """HEAD, marked "+dirty" when adflow/ has uncommitted changes (what was measured is then
    not exactly that commit)."""
    head = _git("rev-parse", "--short", "HEAD")
    if head and _git("status", "--porcelain", "--", "../adflow"):
        head += "+dirty"
    return head


def machine_info() -> dict:
    import numba
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {p: _version(p) for p in PACKAGES},
        "adflow": _adflow_version(),
        "git_commit": _git_commit(),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
    }
    if hasattr(os, "getloadavg"):
        info["load_average_1min"] = round(os.getloadavg()[0], 2)
    try:
        info["numba_threading_layer"] = numba.threading_layer()
    except ValueError:  # no parallel function has run yet
        pass
    if "torch" in sys.modules:
        info["torch_threads"] = sys.modules["torch"].get_num_threads()
    blas_env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                           "OMP_NUM_THREADS") if k in os.environ}
    if blas_env:
        info["env"] = blas_env
    return info


def print_header(info: dict, s: Settings, names: list[str]) -> None:
    vers = ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v)
    missing = [k for k, v in info["versions"].items() if not v]
    print(f"adflow benchmarks, {info['date']}  ({s.mode} sizes, {s.repeats} timing pairs per "
          f"ratio; a slow peer that would take over {s.budget:g} s in all runs smaller and is "
          f"scaled)")
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['platform']}; threads: "
          + (f"{s.threads} per tool (--threads)" if s.threads else "each tool's default"))
    print(f"python {info['python']}; {vers}; adflow {info['adflow']} "
          f"(commit {info['git_commit']})")
    if missing:
        print(f"not installed: {', '.join(missing)}")
    load = info.get("load_average_1min")
    if load is not None and info["cores"] and load > 0.5 * info["cores"]:
        print(f"!! load average {load:g} on {info['cores']} cores: other work is running, so "
              "ratios will be noisy" + ("" if s.threads else "; --threads 1 keeps thread "
                                        "pools from fighting over the cores"))
    print(f"problems: {', '.join(names)}")
    print()


# --- tables -------------------------------------------------------------------------------------

def _ratio(r: float | None) -> str:
    if r is None or not math.isfinite(r):
        return "-"
    return f"{r:.3g}" if r < 1000 else f"{r:,.0f}"


def _size(d: dict) -> str:
    return ", ".join(f"{k}={v:,}" for k, v in d.items())


def _check_cell(c: ColumnResult) -> str:
    if c.check_err is None:
        return ""
    if c.wrong:
        return f"WRONG ({c.check_msg})"
    return f"ok {c.check_err:.0e}"


def print_problem(r: ProblemResult) -> None:
    print(f"== {r.name}: {r.title}; {r.derivative}; {_size(r.size)} ==")
    fd = f"{r.fd_err:.1e}" if r.fd_err is not None else "-"
    print(f"   checked at {_size(r.check_size)}; hand-written vs finite differences: {fd}; "
          f"this problem took {r.wall_s:.1f} s in all")
    print("   (x primal: median of paired ratios; noise: half their interquartile range)")
    w = max([len(c.label) for c in r.columns] + [len("numba primal")]) + 2
    print(f"   {'column':<{w}}{'first call':>11}{'median':>11}{'x primal':>10}{'noise':>7}  check")
    print(f"   {'numba primal':<{w}}{fmt_seconds(r.primal_first_call_s):>11}"
          f"{fmt_seconds(r.primal_median_s):>11}{'1':>10}")
    footnotes = []
    for c in r.columns:
        if not c.ok:
            print(f"   {c.label:<{w}}{c.status}" + (f" ({c.message})" if c.message and
                                                   c.status != "not installed" else ""))
            continue
        mark = ""
        if c.factor != 1.0 or c.note:
            footnotes.append(c)
            mark = f" [{len(footnotes)}]"
        ratio = _ratio(c.ratio) + ("~" if c.factor != 1.0 else "")
        noise = f"±{100 * c.spread:.0f}%" if c.spread is not None else ""
        print(f"   {c.label:<{w}}{fmt_seconds(c.first_call_s):>11}{fmt_seconds(c.median_s):>11}"
              f"{ratio:>10}{noise:>7}  {_check_cell(c)}{mark}")
    for a in r.adflow_vs:
        print(f"   {a['adflow']} / {TOOL_NAMES[a['tool']]} ({a['vs']}): {_ratio(a['ratio'])}"
              + ("  (peer scaled)" if a["scaled"] else ""))
    for i, c in enumerate(footnotes, 1):
        parts = []
        if c.factor != 1.0:
            k = r.scale_key
            parts.append(f"~ ran at {k}={c.run_size[k]:,} ({c.scaled_why}) and was scaled "
                         f"x{c.factor:.3g} linearly in {k}")
            if c.growth is not None:
                parts.append(f"measured cost growth ~{k}^{c.growth:.2f} from {k}={c.probe_at:,}")
        if c.note:
            parts.append(c.note)
        print(f"   [{i}] " + "; ".join(parts))
    for n in r.notes:
        print(f"   note: {n}")
    print()


def best_by_tool(r: ProblemResult) -> dict[str, ColumnResult]:
    """The fastest correct column of each tool."""
    best: dict[str, ColumnResult] = {}
    for c in r.columns:
        if c.ok and not c.wrong and c.ratio is not None:
            if c.tool not in best or c.ratio < best[c.tool].ratio:
                best[c.tool] = c
    return best


def print_summary(results: list[ProblemResult]) -> None:
    print("== summary: best column of each tool, time / numba primal (~ scaled) ==")
    w = max(len(r.name) for r in results) + 2
    print("   " + f"{'problem':<{w}}" + "".join(f"{TOOL_NAMES[t]:>14}" for t in TOOLS))
    for r in results:
        best = best_by_tool(r)
        cells = []
        for t in TOOLS:
            c = best.get(t)
            cells.append("-" if c is None else _ratio(c.ratio) + ("~" if c.factor != 1.0 else ""))
        print("   " + f"{r.name:<{w}}" + "".join(f"{x:>14}" for x in cells))
    print()


# --- files --------------------------------------------------------------------------------------

_PRIVATE = {"fn", "result", "t_call", "t_probe"}


def _clean(obj):
    """JSON has no inf/nan: write them as strings."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def to_json(info: dict, s: Settings, results: list[ProblemResult]) -> dict:
    problems = []
    for r in results:
        d = dataclasses.asdict(r)
        d["columns"] = [{k: v for k, v in dataclasses.asdict(c).items() if k not in _PRIVATE}
                        | {"wrong": c.wrong} for c in r.columns]
        d["mismatches"] = r.mismatches
        problems.append(d)
    return _clean({"machine": info, "settings": dataclasses.asdict(s), "problems": problems})


def write_json(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    tmp.replace(path)


def write_png(path: Path, info: dict, s: Settings, results: list[ProblemResult]) -> bool:
    """Grouped log-scale bars: per problem, the best column of each tool / numba primal."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    colours = {"hand": "#4d4d4d", "adflow": "#d62728", "jax": "#1f77b4", "torch": "#ff7f0e",
               "autograd": "#2ca02c"}
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(results) + 2), 4.8))
    width = 0.8 / len(TOOLS)
    for j, tool in enumerate(TOOLS):
        xs, ys, scaled = [], [], []
        for i, r in enumerate(results):
            c = best_by_tool(r).get(tool)
            if c is not None and c.ratio and c.ratio > 0:
                xs.append(i + (j - (len(TOOLS) - 1) / 2) * width)
                ys.append(c.ratio)
                scaled.append(c.factor != 1.0)
        bars = ax.bar(xs, ys, width, color=colours[tool], label=TOOL_NAMES[tool])
        if tool == "adflow":  # say where adflow has no figure yet rather than leave a gap
            for i, r in enumerate(results):
                if tool not in best_by_tool(r):
                    ax.annotate("n/a", (i + (j - (len(TOOLS) - 1) / 2) * width, 1.0),
                                ha="center", va="bottom", fontsize=6, rotation=90,
                                color=colours[tool])
        for b, sc, y in zip(bars, scaled, ys):
            if sc:
                b.set_hatch("//")
                b.set_edgecolor("white")
            ax.annotate(_ratio(y), (b.get_x() + b.get_width() / 2, y), ha="center",
                        va="bottom", fontsize=6, rotation=90)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(results)))
    ax.set_xticklabels([r.name for r in results], rotation=20, ha="right")
    ax.set_ylabel("derivative time / numba primal time")
    ax.set_title(f"adflow benchmarks ({s.mode}), {info['cpu']}, {info['cores']} cores, "
                 f"{info['date'][:10]}\nbest column per tool; hatched = run smaller and scaled",
                 fontsize=9)
    ax.legend(fontsize=8, ncol=len(TOOLS), loc="upper center", bbox_to_anchor=(0.5, -0.22),
              frameon=False)
    ax.margins(y=0.15)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
