"""adflow as a GradBench tool: ``python -m benchmarks.gradbench [--multithreaded]``.

Speaks GradBench's protocol (CONTRIBUTING.md#protocol in github.com/gradbench/gradbench): one
JSON message per line on stdin, one JSON response per line on stdout, in order.

* ``start``: answered with the tool's name (``"adflow"``) and its configuration.
* ``define``: imports the module of the eval named by ``module``; ``success`` is whether adflow
  has it (an unknown eval gets ``success: false`` and an ``error``), with the import's time as a
  ``"define"`` timing.
* ``evaluate``: runs ``function`` of ``module`` on ``input`` and answers ``output`` and
  ``timings`` (``_runs.py``: ``"prepare"``, ``"compile"`` for a first call, then one
  ``"evaluate"`` per run); an error is answered as ``success: false`` with adflow's message
  (or the traceback of any other error), and the session goes on: ``particle`` and ``saddle``
  answer their ``ff`` variant so, as adflow does not compute forward over forward.
* anything else (``analysis``): answered with its ``id`` only.  (An ``end`` message, which
  GradBench's Python evals send without reading a response, gets one too; it is harmless.)

Without ``--multithreaded`` numba (and so adflow's row-parallel Jacobians) uses one thread, as
GradBench runs tools single-threaded by default.  Nothing else may write to stdout: the
responses are the only output there, and adflow's and numba's messages go to stderr.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback

# The evals this tool implements: GradBench's module name -> module of this package.
MODULES = {
    "ba": "ba",
    "det": "det",
    "gmm": "gmm",
    "hello": "hello",
    "ht": "ht",
    "kmeans": "kmeans",
    "llsq": "llsq",
    "lse": "lse",
    "lstm": "lstm",
    "ode": "ode",
    "particle": "particle",
    "saddle": "saddle",
}


class Unsupported(Exception):
    """An eval or a function of one that this tool does not implement."""


def _load(module: str):
    if module not in MODULES:
        raise Unsupported(f"adflow's tool has no implementation of the eval {module!r} "
                          f"(it has: {', '.join(sorted(MODULES))})")
    return importlib.import_module(f"{__package__}.{MODULES[module]}")


def _describe(error: Exception) -> str:
    """adflow's own errors as adflow words them (what, your file:line, a hint); others with their traceback."""
    import adflow

    if isinstance(error, Unsupported):
        return str(error)
    if isinstance(error, adflow.AdflowError):
        return f"{type(error).__name__}: {error}"
    return "".join(traceback.format_exception(error))


class Tool:
    """Answers one message at a time; ``respond(message)`` is the response (a dict)."""

    def __init__(self, multithreaded: bool = False):
        from ._runs import Runner

        self.multithreaded = multithreaded
        self.runner = Runner()
        self.modules = {}

    def config(self) -> dict:
        import numba

        import adflow

        return {"adflow": adflow.__version__, "numba": numba.__version__, "target": "cpu",
                "multithreaded": self.multithreaded, "threads": numba.get_num_threads()}

    def respond(self, message: dict) -> dict:
        response = {"id": message["id"]}
        kind = message.get("kind")
        if kind == "start":
            response["tool"] = "adflow"
            response["config"] = self.config()
        elif kind == "define":
            response.update(self.define(message["module"]))
        elif kind == "evaluate":
            response.update(self.evaluate(message["module"], message["function"], message["input"]))
        return response

    def define(self, module: str) -> dict:
        start = time.perf_counter_ns()
        try:
            self.modules[module] = _load(module)
        except Exception as error:  # noqa: BLE001 - reported to the eval, which stops
            return {"success": False, "error": _describe(error)}
        return {"success": True, "timings": [{"name": "define", "nanoseconds": time.perf_counter_ns() - start}]}

    def evaluate(self, module: str, function: str, input) -> dict:
        try:
            mod = self.modules.get(module) or _load(module)
            self.modules[module] = mod
            if function not in mod.FUNCTIONS:
                raise Unsupported(f"adflow's tool has no function {function!r} in the eval {module!r} "
                                  f"(it has: {', '.join(mod.FUNCTIONS)})")
            return self.runner.run(module, function, mod.FUNCTIONS[function], input)
        except Exception as error:  # noqa: BLE001 - reported to the eval, the session goes on
            return {"success": False, "error": _describe(error)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gradbench",
                                     description="adflow as a GradBench tool (reads the protocol on stdin)")
    parser.add_argument("--multithreaded", action="store_true",
                        help="let numba use all its threads (default: one thread, as GradBench asks)")
    args = parser.parse_args(argv)

    # Responses are the only thing on stdout: whatever else is printed goes to stderr.
    out = sys.stdout
    sys.stdout = sys.stderr
    os.environ.setdefault("ADFLOW_QUIET", "1")

    import numba

    if not args.multithreaded:
        numba.set_num_threads(1)
    tool = Tool(multithreaded=args.multithreaded)
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            message = json.loads(line)
            response = tool.respond(message)
            out.write(json.dumps(response) + "\n")
            out.flush()
    except (BrokenPipeError, KeyboardInterrupt):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
