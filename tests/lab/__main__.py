"""CLI: python -m lab up|down|status|exec|client|crash|boot|poweroff|shell|bmcs"""

import argparse
import json
import sys

from .config import LabConfig
from .lab import Lab
from .util import LabError


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m lab", description="xcatha test lab (run as root)")
    ap.add_argument("--workdir", help="lab work dir (default /var/lib/xcatha-lab)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="(re)create the lab and boot nodes")
    up.add_argument("--nodes", default="host1,host2", help="comma-separated (default host1,host2)")
    up.add_argument("--cluster", action="store_true", help="also pcs host auth + cluster setup")
    up.add_argument("--bmcs", action="store_true", help="also start the virtual BMCs")
    up.add_argument("--bind", action="append", default=[], metavar="HOST:NODE[:ro]",
                    help="extra bind mount into every node (repeatable)")
    sub.add_parser("down", help="remove everything")
    sub.add_parser("status", help="show the lab (JSON)")
    for name, what in (("exec", "run a command in a node"), ("shell", "interactive shell in a node")):
        p = sub.add_parser(name, help=what)
        p.add_argument("node")
        p.add_argument("argv", nargs=argparse.REMAINDER)
    client = sub.add_parser("client", help="run a command in the client namespace")
    client.add_argument("argv", nargs=argparse.REMAINDER)
    for name, what in (("crash", "power cut"), ("boot", "power on and wait for boot"),
                       ("poweroff", "clean shutdown")):
        sub.add_parser(name, help=what).add_argument("node")
    bmcs = sub.add_parser("bmcs", help="start or stop the virtual BMCs")
    bmcs.add_argument("action", choices=("start", "stop"))
    return ap


def _parse_bind(spec: str):
    parts = spec.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "ro"):
        raise LabError("bad --bind %r (HOST:NODE[:ro])" % spec)
    return (parts[0], parts[1], len(parts) == 3)


def _run_output(result) -> int:
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.cmd == "up":
        cfg = LabConfig() if args.workdir is None else LabConfig(workdir=args.workdir)
        cfg.binds = [_parse_bind(b) for b in args.bind]
    else:
        cfg = LabConfig.saved_or_default(args.workdir)   # act on the lab that is up
    lab = Lab(cfg)
    if args.cmd == "up":
        lab.up(nodes=tuple(args.nodes.split(",")), cluster=args.cluster, bmcs=args.bmcs)
    elif args.cmd == "down":
        lab.down()
    elif args.cmd == "status":
        print(json.dumps(lab.status(), indent=2))
    elif args.cmd == "exec":
        return _run_output(lab.node(args.node).exec(args.argv or ["true"], timeout=None))
    elif args.cmd == "shell":
        return lab.node(args.node).shell(args.argv or ("/bin/bash", "-l"))
    elif args.cmd == "client":
        return _run_output(lab.client_exec(args.argv or ["true"], timeout=None))
    elif args.cmd == "crash":
        lab.crash(args.node)
    elif args.cmd == "boot":
        lab.boot(args.node)
    elif args.cmd == "poweroff":
        lab.poweroff(args.node)
    elif args.cmd == "bmcs":
        lab.start_bmcs() if args.action == "start" else lab.stop_bmcs()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except LabError as err:
        print("lab: %s" % err, file=sys.stderr)
        sys.exit(1)
