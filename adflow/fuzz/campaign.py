"""The long campaign: many seeds checked in worker processes, the findings grouped and written out."""
import multiprocessing as mp
import os
import re
import shutil
import tempfile
import time
import warnings
from collections import Counter

from ..pipeline import cache as builds
from .checks import CHECKS, Finding, check_program
from .defects import KNOWN_DEFECTS
from .drawers import RandomDrawer
from .programs import Loader, draw_program


def _worker(job):
    seeds, cpu_every, avoid, cache = job
    os.environ["ADFLOW_CACHE_DIR"] = cache
    warnings.simplefilter("ignore")
    loader = Loader(tempfile.mkdtemp(prefix="adflow-fuzz-"))
    stats = {"counts": Counter(), "findings": []}
    for n_done, seed in enumerate(seeds):
        program = draw_program(RandomDrawer(seed), name=f"prog{seed}", avoid=avoid)
        targets = ("python", "cpu") if cpu_every and seed % cpu_every == 0 else ("python",)
        try:
            outcome = check_program(program, loader, targets)
        except Finding as exc:
            stats["findings"].append((seed, exc.kind, exc.detail.splitlines()[0][:300], program))
            continue
        except Exception as exc:  # noqa: BLE001 - a bug of the fuzzer itself is reported, not hidden
            stats["findings"].append((seed, "fuzzer-error", repr(exc)[:300], program))
            continue
        stats["counts"].update({outcome.status: 1, "cpu": len(outcome.targets) > 1, "fd_checked": outcome.fd_checked,
                                "fd_skipped": outcome.fd_skipped, "hvp_checked": outcome.hvp_checked is True})
        stats["counts"].update(outcome.checks)
        if n_done % 100 == 99:
            # Builds keep their functions alive; a long campaign lets them go (the dict is rebuilt
            # from scratch, so no entry can be found again by a reused id).
            builds.clear()
    shutil.rmtree(loader.folder, ignore_errors=True)
    return stats


def campaign(examples=5000, cpu_every=20, jobs=2, seed=0, out="fuzz-findings", avoid=frozenset(KNOWN_DEFECTS)):
    cache = tempfile.mkdtemp(prefix="adflow-fuzz-cache-")
    seeds = list(range(seed, seed + examples))
    chunks = [seeds[k::jobs * 8] for k in range(jobs * 8)]
    t0 = time.perf_counter()
    counts, findings = Counter(), []
    ctx = mp.get_context("spawn")
    with ctx.Pool(jobs) as pool:
        for stats in pool.imap_unordered(_worker, [(c, cpu_every, frozenset(avoid), cache) for c in chunks]):
            counts.update(stats["counts"])
            findings += stats["findings"]
            done = counts["ok"] + counts["rejected"] + counts["refused"] + len(findings)
            print(f"  {done}/{examples} programs, {len(findings)} findings, {time.perf_counter() - t0:.0f} s",
                  flush=True)
    shutil.rmtree(cache, ignore_errors=True)
    elapsed = time.perf_counter() - t0
    groups: dict = {}
    for finding in findings:
        groups.setdefault((finding[1], _signature(finding[2])), []).append(finding)
    if findings:
        os.makedirs(out, exist_ok=True)
        for seed_, kind, detail, program in findings:
            with open(os.path.join(out, f"seed{seed_}_{kind}.py"), "w") as fh:
                fh.write(f"# {kind}: {detail}\n# {program.inputs_text()}\n")
                fh.write(program.module_text())
    checks = ", ".join(f"{counts[name]} {name}" for name in sorted(counts) if name in CHECKS or "-" in name)
    print(f"\n{examples} programs in {elapsed:.0f} s with {jobs} processes: {counts['ok']} checked, "
          f"{counts['rejected']} rejected (value not finite or > 1e6), {counts['refused']} refused on purpose "
          f"(REFUSALS), {counts['cpu']} also on target='cpu'; "
          f"{counts['fd_checked']} Jacobian entries from finite differences, {counts['fd_skipped']} left out "
          f"(kinks); {counts['hvp_checked']} Hessian-vector products vs differences of gradients; checks: {checks}")
    print(f"{len(findings)} findings in {len(groups)} groups" + (f", programs in {out}/" if groups else ""))
    for (kind, sig), items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        print(f"  {len(items):5d} x [{kind}] {sig}   e.g. seed {items[0][0]}")
    return {"counts": counts, "findings": findings}


def _signature(detail):
    text = re.sub(r"0x[0-9a-f]+", "0x", detail)
    text = re.sub(r"-?\d+\.\d+(e-?\d+)?", "#", text)
    text = re.sub(r"\b(prog|fuzzprog_)\w*", "prog", text)
    text = re.sub(r"\d+", "#", text)
    return text[:160]
