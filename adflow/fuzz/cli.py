"""``python -m adflow.fuzz``: show or check the program of one seed, or run a long campaign."""
import argparse
import os

from .campaign import campaign
from .checks import check_program
from .defects import KNOWN_DEFECTS
from .drawers import RandomDrawer
from .minimize import minimize
from .programs import Loader, draw_program

DESCRIPTION = 'A random-program fuzzer for adflow: "correct or loud".'  # adflow.fuzz's first line


def _show(program):
    print(program.module_text() + f"\n# {program.inputs_text()}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m adflow.fuzz", description=DESCRIPTION)
    parser.add_argument("--examples", type=int, default=1000, help="programs to generate (default 1000)")
    parser.add_argument("--cpu-every", type=int, default=20,
                        help="also run target='cpu' on every k-th program (0: never; default 20)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--out", default="fuzz-findings", help="folder for failing programs")
    parser.add_argument("--show", type=int, metavar="SEED", help="print the program of one seed and exit")
    parser.add_argument("--check", type=int, metavar="SEED",
                        help="check the program of one seed (both targets) and print the outcome")
    parser.add_argument("--minimize", action="store_true", help="with --check: shrink a failing program first")
    parser.add_argument("--all", action="store_true",
                        help="also generate the constructs of known defects (KNOWN_DEFECTS; avoided by default)")
    ns = parser.parse_args(argv)
    avoid = frozenset() if ns.all else frozenset(KNOWN_DEFECTS)
    if ns.check is not None:
        program = draw_program(RandomDrawer(ns.check), name=f"prog{ns.check}", avoid=avoid)
        targets = ("python",) if ns.cpu_every == 0 else ("python", "cpu")
        if ns.minimize:
            program = minimize(program, targets)
        _show(program)
        print(check_program(program, Loader(), targets))
        return 0
    if ns.show is not None:
        _show(draw_program(RandomDrawer(ns.show), name=f"prog{ns.show}", avoid=avoid))
        return 0
    total = campaign(ns.examples, ns.cpu_every, ns.jobs, ns.seed, ns.out, avoid)
    return 1 if total["findings"] else 0
