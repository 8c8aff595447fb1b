"""python -m faults: a seeded fault run on the fault lab; the last line printed is JSON."""
import argparse
import json
import random
import sys

from . import kinds
from .runner import BOUND, WORKDIR, fault_run

ENGINE_ALIASES = {"mariadb": "mysql", "postgres": "postgresql"}
ENGINES = ("postgresql", "mysql", "sqlite") + tuple(ENGINE_ALIASES)


def say(message=""):
    print(message, flush=True)


def part_of(text):
    """'FIRST-LAST' -> (first, last), 1-based and inclusive."""
    try:
        first, last = (int(n) for n in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError("not FIRST-LAST: %r" % text) from None
    if not 1 <= first <= last:
        raise argparse.ArgumentTypeError("not 1 <= FIRST <= LAST: %r" % text)
    return first, last


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m faults", description=__doc__)
    ap.add_argument("--count", type=int, default=30, help="how many faults (default 30)")
    ap.add_argument("--seed", type=int, help="seed of random.Random (default: a random one, printed first)")
    ap.add_argument("--engine", default="postgresql", choices=ENGINES,
                    help="xCAT's database engine (default %(default)s; mariadb is mysql)")
    ap.add_argument("--kinds", help="comma-separated kinds to draw from (default: all; see --list)")
    ap.add_argument("--bound", type=float, default=BOUND, help="seconds allowed per recovery (default %(default)s)")
    ap.add_argument("--report", help="report path (default %s/reports/SEED.md)" % WORKDIR)
    ap.add_argument("--reuse", action="store_true", help="use the fault lab if it is up and healthy")
    ap.add_argument("--keep", action="store_true", help="leave the fault lab up afterwards")
    ap.add_argument("--arbiter", action="store_true", help="run with the arbiter (corosync-qnetd in the client "
                    "namespace, [quorum] arbiter) instead of the fence delay")
    ap.add_argument("--part", type=part_of, metavar="FIRST-LAST",
                    help="run only these faults of the plan (numbered and drawn as in the whole plan): a soak "
                         "longer than one sitting, in parts, each on a fresh lab")
    ap.add_argument("--list", action="store_true", help="list the fault kinds and exit")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    args.engine = ENGINE_ALIASES.get(args.engine, args.engine)
    if args.list:
        for name, (cls, _) in kinds.catalogue(args.engine).items():
            say("%-22s bound %3.0f s  %s" % (name, cls.bound or args.bound, cls.how))
        return 0
    names = args.kinds.split(",") if args.kinds else None
    if args.part and args.part[1] > args.count:
        say("--part %d-%d is beyond the plan's %d faults" % (args.part + (args.count,)))
        return 2
    try:
        kinds.draw_plan(random.Random(0), 1, names, args.engine)
    except ValueError as error:
        say(str(error))
        return 2
    summary, _ = fault_run(args.count, args.seed, names, args.bound, args.report, args.reuse, args.keep, say,
                           with_arbiter=args.arbiter, engine=args.engine, part=args.part)
    say(json.dumps(summary))
    return 0 if not summary["violations"] and summary["recovered"] == summary["faults"] else 1


if __name__ == "__main__":
    sys.exit(main())
