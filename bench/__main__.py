"""CLI of make bench; see the package's documentation."""
import argparse
import dataclasses
import datetime
import json
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # pragma: no cover - run as a script
    raise SystemExit("run as: PYTHONPATH=tests:. python -m bench")
try:
    import lab  # noqa: F401 - the lab lives in tests/
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from lab import arbiter, frozen, pair  # noqa: E402
from lab.util import log  # noqa: E402

from . import agentcost, failover, groups, killed, machine, monitorcost, plot, report  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PARTS = ("planned", "agents", "monitoring", "crash", "killed")
WORKDIR = Path("/var/lib/xcatha-lab-bench")
# A fenced node's virtual BMC boots it again after 30 s (the lab's default is 5 s): a
# real server spends longer than that in its firmware, and a node that rejoins within
# the failover aborts the survivor's transition and makes it plan again, which would
# be measured as part of the failover.
BMC_BOOT_DELAY = 30.0


def new_lab():
    """The bench lab: prefix xhb, 192.168.74.0/24, next to the default and the fault labs."""
    return frozen.new_lab("xhb", "192.168.74", WORKDIR, bmc_boot_delay=BMC_BOOT_DELAY)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--trials", type=int, default=5, help="crash trials and planned moves per group (5)")
    parser.add_argument("--window", type=float, default=120, help="seconds of each monitoring-cost window (120)")
    parser.add_argument("--monitor-runs", type=int, default=20, help="runs of each monitor per side (20)")
    parser.add_argument("--action-runs", type=int, default=5, help="start/stop runs per side (5)")
    parser.add_argument("--settle", type=float, default=10, help="seconds to wait on a healthy pair (10)")
    parser.add_argument("--skip", default="", help="comma-separated parts to leave out: " + ",".join(PARTS))
    parser.add_argument("--reuse", action="store_true", help="use the bench lab if it is up, instead of building it")
    parser.add_argument("--keep", action="store_true", help="leave the lab up (with our group) afterwards")
    parser.add_argument("--arbiter", action="store_true", help="run the pair with the arbiter (corosync-qnetd "
                        "in the client namespace, [quorum] arbiter) instead of the fence delay")
    parser.add_argument("--token", type=int, default=None, metavar="MS",
                        help="corosync's token timeout for this run (pcs cluster config update; default: "
                        "corosync's 3000 ms)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory (bench/results)")
    args = parser.parse_args(argv)
    args.skip = {part for part in args.skip.split(",") if part}
    unknown = args.skip - set(PARTS)
    if unknown:
        parser.error("unknown part(s) to skip: %s" % ", ".join(sorted(unknown)))
    return args


class Run:
    """One bench run: the lab, the raw results, the load while each part ran."""

    def __init__(self, args):
        self.args = args
        self.lab = new_lab()
        self.stock = groups.stock_group(self.lab.cfg)
        self.results = {"started": now(), "settings": {
            "trials": args.trials, "window_s": args.window, "monitor_runs": args.monitor_runs,
            "action_runs": args.action_runs, "settle_s": args.settle, "skipped": sorted(args.skip),
            "arbiter": args.arbiter, "token_ms": args.token},
            "load": [], "errors": {}, "groups": {
                "ours": {"group": dataclasses.asdict(groups.OURS)},
                "stock": {"group": dataclasses.asdict(self.stock)}}}

    def part(self, name, function, *args):
        """Run one part; a failure is recorded and the run goes on with the next part."""
        load = {"part": name, "start": os.getloadavg()}
        log.info("bench: == %s (load %.2f)", name, load["start"][0])
        try:
            return function(*args)
        except Exception as error:  # noqa: BLE001 - a bench reports what it could measure
            log.exception("bench: %s failed", name)
            self.results["errors"][name] = "%s: %s" % (type(error).__name__, str(error)[:500])
            return None
        finally:
            load["end"] = os.getloadavg()
            self.results["load"].append(load)

    # ------------------------------------------------------------ the parts
    def prepare(self):
        if self.args.reuse and frozen.reusable(self.lab, group_running=False):
            log.info("bench: reusing the running bench lab (agents as copied when it was built)")
        else:
            frozen.build(self.lab)
        if self.args.arbiter and not arbiter.running(self.lab):
            arbiter.enable(self.lab)
        machine.set_token(self.lab, self.args.token)  # also back to the default on a reused lab
        groups.switch(self.lab, groups.OURS, (groups.OURS, self.stock))
        self.results["machine"] = machine.describe(self.lab)

    def planned(self, group, side):
        # at least a move there and back: the stock recipe needs the configs our group writes on each node
        count = max(self.args.trials, 2) if side == "ours" else self.args.trials
        self.results["groups"][side]["planned"] = [failover.planned_trial(self.lab, group, self.args.settle)
                                                   for _ in range(count)]

    def crash(self, group, side):
        trials = self.results["groups"][side].setdefault("crash", [])
        for _ in range(self.args.trials):
            trials.append(failover.crash_trial(self.lab, group, self.args.settle))

    def kill_services(self, group, side):
        trials = self.results["groups"][side].setdefault("killed", [])
        for service in killed.services():
            try:
                trials.append(killed.trial(self.lab, group, service, self.args.settle))
            except Exception as error:  # noqa: BLE001 - the next service is still measured
                log.exception("bench: killed %s (%s) failed", service, side)
                trials.append({"service": service, "serving_again_s": None, "error": str(error)[:300]})

    def agents(self):
        active = failover.ready(self.lab, groups.OURS, self.args.settle)
        self.results["agent_cost"] = agentcost.measure(self.lab, self.lab.node(active), self.args.monitor_runs,
                                                       self.args.action_runs)

    def monitoring(self, group, side):
        active = failover.ready(self.lab, group, 3 * self.args.settle)   # quiet after moves and clean-ups
        self.results["groups"][side]["monitoring"] = monitorcost.window(self.lab, active, self.args.window, side)

    def baseline(self):
        """Neither group: what the node costs with only the fence devices configured."""
        groups.remove(self.lab, groups.OURS)
        time.sleep(3 * self.args.settle)
        node = pair.any_running_node(self.lab).name
        self.results["baseline_monitoring"] = monitorcost.window(self.lab, node, self.args.window, "no group")

    def stock_group(self):
        groups.switch(self.lab, self.stock, (groups.OURS, self.stock))
        failover.ready(self.lab, self.stock, self.args.settle)   # raises unless all five services answer
        self.results["groups"]["stock"]["verified"] = pair.services_answer(self.lab)

    def run(self):
        skip = self.args.skip
        self.part("prepare", self.prepare)
        if "planned" not in skip:
            self.part("planned ours", self.planned, groups.OURS, "ours")
        if "agents" not in skip:
            self.part("agent cost", self.agents)
        if "monitoring" not in skip:
            self.part("monitoring ours", self.monitoring, groups.OURS, "ours")
        if "crash" not in skip:
            self.part("crash ours", self.crash, groups.OURS, "ours")
        if "killed" not in skip:
            self.part("killed ours", self.kill_services, groups.OURS, "ours")
        if "monitoring" not in skip:
            self.part("monitoring baseline", self.baseline)
        if self.part("switch to stock", self.stock_group) is None and "switch to stock" in self.results["errors"]:
            return
        if "monitoring" not in skip:
            self.part("monitoring stock", self.monitoring, self.stock, "stock")
        if "planned" not in skip:
            self.part("planned stock", self.planned, self.stock, "stock")
        if "crash" not in skip:
            self.part("crash stock", self.crash, self.stock, "stock")
        if "killed" not in skip:
            self.part("killed stock", self.kill_services, self.stock, "stock")

    def finish(self):
        self.results["finished"] = now()
        out = self.args.out
        out.mkdir(parents=True, exist_ok=True)
        report.write_json(out / "latest.json", self.results)   # the raw data first, whatever follows
        analysis = report.analyze(self.results)
        png = self.part("timeline plot", plot.timeline, out / "latest-timeline.png", self.results, self.group_of)
        self.results["analysis"] = analysis
        report.write_json(out / "latest.json", self.results)
        markdown = report.markdown(self.results, analysis)
        if png:
            markdown += "\n![one failover per group](latest-timeline.png)\n"
        (out / "latest.md").write_text(markdown)
        log.info("bench: results in %s", out)
        return analysis["summary"]

    def group_of(self, side):
        return groups.OURS if side == "ours" else self.stock

    def cleanup(self):
        if self.args.keep:
            self.part("back to our group", groups.switch, self.lab, groups.OURS, (groups.OURS, self.stock))
            log.info("bench: the lab stays up (prefix %s)", self.lab.cfg.prefix)
        else:
            self.lab.down()


def now():
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if os.geteuid() != 0:
        raise SystemExit("make bench needs root (it builds the lab)")
    bench = Run(args)
    try:
        bench.run()
    finally:
        try:
            summary = bench.finish()
        finally:
            bench.cleanup()
    print(json.dumps(summary), flush=True)
    return 0 if not bench.results["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
