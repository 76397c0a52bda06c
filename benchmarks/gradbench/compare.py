"""adflow's GradBench tool next to GradBench's JAX tool, under GradBench's own evals, without its CLI.

    python -m benchmarks.gradbench.compare --gradbench /path/to/gradbench [--evals lse gmm ...]
        [--rounds 2] [--jax jax jax-blocking] [--json out.json]

``--gradbench`` is a clone of github.com/gradbench/gradbench with its reference tool built
(``make -C cpp && make -C tools/manual``: the evals validate against ``tools/manual/bin/*``).
Nothing of GradBench is copied here: the evals (``python/gradbench/gradbench/evals/<eval>/run.py``)
and the JAX tool (``python/gradbench/gradbench/tools/jax/run.py``) run unmodified from the clone,
with ``PYTHONPATH=<clone>/python/gradbench``, by ``--python`` (default: this Python), which needs
numpy, pydantic, jax, and dataclasses-json for lstm, ba and ht.

This stands in for ``gradbench run``: it starts an eval and a tool as two processes and relays
each line of the eval's stdout to the tool's stdin and each response back, recording for every
``evaluate`` the tool's timings, the wall time from sending the message to reading the response,
and the eval's verdict (its ``analysis`` message).  Each round runs every tool once per eval,
each in a fresh process, the order reversed every other round.  Sizes: ``SIZES`` below.

Tools: ``adflow`` (``python -m benchmarks.gradbench``); ``jax``, GradBench's JAX tool as it is;
``jax-blocking``, the same tool with each timed run waiting for its result
(``jax.block_until_ready``, patched into ``gradbench.wrap.multiple_runs`` at start-up, see
``BLOCKING``): JAX dispatches asynchronously on CPU and the tool stops its clock when the call
returns, so its own timings can leave the computation out.  An eval JAX's tool lacks runs with
adflow alone.

Conditions: GradBench's JAX tool pins itself to CPU 0 (``sched_setaffinity``) unless
``--multithreaded``; adflow's tool is pinned to CPU 0 too here and runs numba on one thread.  Each
adflow process gets an empty ``ADFLOW_CACHE_DIR`` and ``NUMBA_CACHE_DIR`` (JAX has no persistent
cache by default), so first calls are cold compiles for both; ``--warm-cache`` keeps one folder.

The table printed at the end has, per eval, size and function: the eval's verdict for each tool
(``V`` valid in every round, ``x`` invalid, ``E`` the tool answered ``success: false``, ``-`` not
run; several letters when rounds differ), the median ``evaluate`` timing (over rounds, of each
message's median; JAX compiles on a function's first run for a shape, which is left out when
there are others), the ratios adflow / JAX, and the first call: adflow's ``compile`` (or
``warmup``) timing, JAX's first ``evaluate`` run (tracing and jit compile plus one run).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the adflow checkout

# Small workloads that finish in minutes on two cores (arguments of each eval's run.py).
SIZES = {
    "lse": ["-n", "2500", "40000", "640000"],
    "llsq": ["-n", "16", "256", "4096", "-m", "128"],
    "ode": ["-n", "1000", "10000", "-s", "1", "10"],
    "det": ["-l", "5", "7", "9"],
    "kmeans": ["-k", "10", "100", "-n", "1000", "-d", "8"],
    "gmm": ["-d", "2", "10", "20", "-k", "5", "25", "-n", "1000"],
    "lstm": ["-l", "2", "-c", "1024"],
    "ba": ["--min", "1", "--max", "3"],
    "ht": ["--min", "1", "--max", "2", "--model", "small"],
}


# GradBench's JAX tool as it is, except that each timed run waits for its result: JAX dispatches
# asynchronously on CPU, and gradbench.wrap.multiple_runs stops the clock when the call returns.
BLOCKING = """
import runpy, sys, jax
from gradbench import wrap
runs = wrap.multiple_runs
wrap.multiple_runs = lambda **kw: lambda f: runs(**kw)(lambda x: jax.block_until_ready(f(x)))
sys.path.insert(0, "python/gradbench/gradbench/tools/jax")
runpy.run_path("python/gradbench/gradbench/tools/jax/run.py", run_name="__main__")
"""


def _pin_cpu0():
    os.sched_setaffinity(0, [0])


def session(gradbench: Path, eval_name: str, eval_args: list[str], tool: str, warm_cache: str | None,
            python: str = sys.executable) -> dict:
    """One ``gradbench run``: the eval against one tool; returns the tool's config and one record per evaluate."""
    env = dict(os.environ, PYTHONPATH=str(gradbench / "python" / "gradbench"))
    evaluator = subprocess.Popen([python, f"python/gradbench/gradbench/evals/{eval_name}/run.py", *eval_args],
                                 cwd=gradbench, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    scratch = None
    if tool == "jax":
        command, cwd, tool_env, pin = [python, "python/gradbench/gradbench/tools/jax/run.py"], gradbench, env, None
    elif tool == "jax-blocking":
        command, cwd, tool_env, pin = [python, "-c", BLOCKING], gradbench, env, None
    else:
        cache = warm_cache or (scratch := tempfile.TemporaryDirectory(prefix="adflow-gb-")).name
        tool_env = dict(os.environ, ADFLOW_CACHE_DIR=cache, NUMBA_CACHE_DIR=os.path.join(cache, "numba"))
        command, cwd, pin = [sys.executable, "-m", "benchmarks.gradbench"], ROOT, _pin_cpu0
    tool_process = subprocess.Popen(command, cwd=cwd, env=tool_env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    text=True, preexec_fn=pin)
    records, pending, config = [], {}, None
    load_before = os.getloadavg()[0]
    try:
        for line in evaluator.stdout:
            message = json.loads(line)
            tool_process.stdin.write(line)
            tool_process.stdin.flush()
            if message["kind"] == "end":  # sent without waiting for a response
                break
            start = time.perf_counter_ns()
            answer = tool_process.stdout.readline()
            wall = time.perf_counter_ns() - start
            if not answer:
                raise RuntimeError(f"{tool} exited during {eval_name} (message {message})")
            response = json.loads(answer)
            if message["kind"] == "start":
                config = response.get("config")
            elif message["kind"] == "define" and not response.get("success"):
                records.append({"function": None, "error": response.get("error")})
            elif message["kind"] == "evaluate":
                timings = {}
                for timing in response.get("timings") or []:
                    timings.setdefault(timing["name"], []).append(timing["nanoseconds"])
                record = {"function": message["function"], "size": message.get("description", ""),
                          "success": response.get("success"), "timings": timings, "wall": wall}
                if not response.get("success"):
                    record["error"] = response.get("error", "")[-2000:]
                records.append(record)
                pending[message["id"]] = record
            elif message["kind"] == "analysis":
                pending[message["of"]].update(valid=message["valid"], analysis=(message.get("error") or "")[-2000:])
            evaluator.stdin.write(json.dumps(response) + "\n")
            evaluator.stdin.flush()
    finally:
        for process in (evaluator, tool_process):
            try:
                process.stdin.close()
            except BrokenPipeError:
                pass
        evaluator.wait()
        tool_process.wait()
        if scratch is not None:
            scratch.cleanup()
    return {"eval": eval_name, "tool": tool, "config": config, "records": records, "eval_status": evaluator.returncode,
            "load": [load_before, os.getloadavg()[0]]}


def _first_call(tool: str, record: dict, first: bool):
    if tool == "adflow":
        for name in ("compile", "warmup"):
            if name in record["timings"]:
                return record["timings"][name][0]
        return None
    return record["timings"]["evaluate"][0] if first else None


def _steady(tool: str, record: dict, first: bool) -> float:
    runs = record["timings"].get("evaluate", [])
    if tool != "adflow" and first and len(runs) > 1:
        runs = runs[1:]  # JAX's jit compile
    return statistics.median(runs)


def summarise(sessions: list[dict]) -> list[dict]:
    """One row per (eval, size, function) with each tool's verdict and median times over rounds."""
    rows = {}
    for s in sessions:
        seen = set()  # (function, size): JAX compiles each function for each shape on its first run
        for r in s["records"]:
            if r["function"] is None:
                continue
            key = (s["eval"], r["size"], r["function"])
            row = rows.setdefault(key, {"eval": s["eval"], "size": r["size"], "function": r["function"]})
            cell = row.setdefault(s["tool"], {"verdicts": [], "steady": [], "first": [], "wall": []})
            first = (r["function"], r["size"]) not in seen
            seen.add((r["function"], r["size"]))
            if not r["success"]:
                cell["verdicts"].append("E")
                continue
            cell["verdicts"].append("V" if r.get("valid") else "x")
            cell["steady"].append(_steady(s["tool"], r, first))
            cell["wall"].append(r["wall"] / max(1, len(r["timings"].get("evaluate", []))))
            first_call = _first_call(s["tool"], r, first)
            if first_call is not None:
                cell["first"].append(first_call)
    return list(rows.values())


def _ms(ns):
    if ns is None:
        return "-"
    ms = ns / 1e6
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def table(rows: list[dict]) -> str:
    tools = ("adflow", "jax", "jax-blocking")
    lines = ["| eval | size | function | valid adflow / JAX / JAX blocking | adflow ms | JAX ms | JAX blocking ms "
             "| adflow / JAX | adflow / JAX blocking | first call adflow / JAX / JAX blocking ms |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        verdicts, medians, firsts = [], {}, []
        for tool in tools:
            c = row.get(tool)
            verdicts.append("".join(sorted(set(c["verdicts"]))) if c else "-")
            medians[tool] = statistics.median(c["steady"]) if c and c["steady"] else None
            firsts.append(_ms(statistics.median(c["first"])) if c and c["first"] else "-")
        ratios = [f"{medians['adflow'] / medians[t]:.2f}" if medians["adflow"] and medians[t] else "-"
                  for t in tools[1:]]
        lines.append(f"| {row['eval']} | {row['size']} | {row['function']} | {' / '.join(verdicts)} | "
                     + " | ".join(_ms(medians[t]) for t in tools) + f" | {' | '.join(ratios)} | {' / '.join(firsts)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gradbench.compare", description=__doc__.split("\n")[0])
    parser.add_argument("--gradbench", type=Path, required=True, help="a clone of gradbench/gradbench, tools/manual built")
    parser.add_argument("--evals", nargs="+", default=["lse", "llsq", "ode", "kmeans", "gmm"])
    parser.add_argument("--jax", nargs="*", default=["jax", "jax-blocking"], choices=["jax", "jax-blocking"],
                        help="the JAX tool as it is, and with each timed run waiting for its result")
    parser.add_argument("--rounds", type=int, default=2, help="sessions per tool and eval, order alternating")
    parser.add_argument("--min-runs", default="3", help="passed to the evals (default 3)")
    parser.add_argument("--min-seconds", default="0.3", help="passed to the evals (default 0.3)")
    parser.add_argument("--python", default=sys.executable,
                        help="the Python of the evals and of JAX's tool (GradBench's dependencies; default: this one)")
    parser.add_argument("--warm-cache", help="one ADFLOW_CACHE_DIR for every adflow process (default: a fresh one each)")
    parser.add_argument("--json", type=Path, help="write every session's records here")
    args = parser.parse_args(argv)

    jax_tool = args.gradbench / "python" / "gradbench" / "gradbench" / "tools" / "jax"
    sessions = []
    for eval_name in args.evals:
        eval_args = SIZES.get(eval_name, []) + ["--min-runs", args.min_runs, "--min-seconds", args.min_seconds]
        tools = ["adflow", *args.jax] if (jax_tool / f"{eval_name}.py").exists() else ["adflow"]
        for round_ in range(args.rounds):
            for tool in (tools if round_ % 2 == 0 else tools[::-1]):
                start = time.time()
                s = session(args.gradbench, eval_name, eval_args, tool, args.warm_cache, args.python)
                s.update(round=round_, seconds=time.time() - start, eval_args=eval_args)
                sessions.append(s)
                bad = [r for r in s["records"] if not (r.get("success") and r.get("valid"))]
                print(f"{eval_name:7} {tool:6} round {round_}: {len(s['records'])} evaluations, {len(bad)} not valid, "
                      f"eval exit status {s['eval_status']}, {s['seconds']:.0f} s, load {s['load'][0]:.2f} -> {s['load'][1]:.2f}", file=sys.stderr)
                for r in bad:
                    print(f"    {r.get('function')} {r.get('size', '')}: {(r.get('error') or r.get('analysis') or '')[-600:]}",
                          file=sys.stderr)
                if args.json:
                    args.json.write_text(json.dumps(sessions, indent=1))
    print(table(summarise(sessions)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
