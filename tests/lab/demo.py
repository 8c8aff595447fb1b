"""make demo: the two-node lab, the group applied, a planned move, a crash, a timeline.

The lab stays up afterwards for you to explore.  The last line printed is one JSON
object with the measured times and whether each service answered after the crash.
"""
import sys
import time

from . import pair, realxcat, xcat


def say(message=""):
    print(message, flush=True)


def show(lab, via, argv):
    result = lab.node(via).exec(argv, timeout=60)
    say(result.stdout.rstrip())


def planned_move(lab):
    active = pair.active_node(lab)
    target = pair.other(lab, active)
    say("\n== Planned failover: pcs resource move %s %s, then pcs resource clear" % (pair.GROUP, target))
    answers, result = pair.planned_move(lab, target)
    if result.returncode != 0:
        say(result.stderr)
    for service, seconds in answers.items():
        say("   %-6s answers through the VIP after %s" % (service, "%.1f s" % seconds if seconds else "NEVER"))
    elapsed = max((s for s in answers.values() if s is not None), default=None)
    say("   all services back on %s after %.1f s" % (target, elapsed) if elapsed else "   not all services came back")
    return elapsed


def crash(lab):
    active = pair.active_node(lab)
    survivor = pair.other(lab, active)
    say("\n== Crash: %s (the active MN) is killed without warning (its container, all at once)" % active)
    crashed_wall, crashed = time.time(), time.monotonic()
    lab.crash(active)
    answers = pair.first_answers(lab, crashed, timeout=180)
    try:
        pair.wait_group_started(lab, on=survivor, via=survivor, timeout=60)
    except TimeoutError as error:
        say("   %s" % error)
    fenced = any(event["target"] == active and event["status"] == "success"
                 for event in pair.fence_history(lab, survivor))
    say("\n   Timeline (seconds after the crash):")
    rows = [(stamp - crashed_wall, "cluster", event) for stamp, event in pair.cluster_events(lab, survivor,
                                                                                          crashed_wall)]
    rows += [(seconds, "client", "%s answers through the VIP" % service)
             for service, seconds in answers.items() if seconds is not None]
    for seconds, source, event in sorted(rows):
        say("   %6.2f  %-7s %s" % (seconds, source, event))
    missing = [service for service, seconds in answers.items() if seconds is None]
    if missing:
        say("   NOT answering: %s" % ", ".join(missing))
    elapsed = max((s for s in answers.values() if s is not None), default=None)
    return elapsed, fenced, {service: seconds is not None for service, seconds in answers.items()}


def main():
    lab = pair.new_lab()
    if xcat.real():
        which = "the real xCAT %s (from %s)" % (realxcat.version(lab.cfg), realxcat.source())
    else:
        which = "the test-only xCAT STAND-IN (no xCAT source: set XCAT_SRC or put it in %s)" % realxcat.DEFAULT_SOURCES
        say("!! " + "=" * 100)
        say("!! NOT THE REAL xCAT: " + which)
        say("!! " + "=" * 100)
    say("== Building the lab: two MNs (systemd-nspawn, real systemd), a client, virtual BMCs,")
    say("   %s on the shared data /HA-data," % which)
    say("   set up with `xcatha setup` (standby host2 first), a Pacemaker cluster with fence_ipmilan,")
    say("   and the group applied with `xcatha cluster-config apply` (takes a few minutes)")
    started = time.monotonic()
    pair.build(lab)
    active = pair.active_node(lab)
    say("   ready in %.0f s; the group runs on %s\n" % (time.monotonic() - started, active))
    show(lab, active, ["pcs", "status"])
    say("\n   From the client: %s" % pair.services_answer(lab))
    planned = planned_move(lab)
    time.sleep(3)
    crash_seconds, fenced, services = crash(lab)
    survivor = pair.active_node(lab) or "host1"
    say("")
    show(lab, survivor, ["pcs", "status"])
    say("\nThe lab is still running. Explore it:")
    say("   make lab-shell NODE=host1        # a shell inside host1 (pcs status, crm_mon, journalctl, ...)")
    say("   make lab-shell NODE=client       # the client namespace (dig @%s, psql -h %s, ...)" % (
        lab.cfg.vip, lab.cfg.vip))
    say("   make lab-down                    # tear everything down")
    say(pair.summary_json({
        "planned_move_s": round(planned, 2) if planned else None,
        "crash_failover_s": round(crash_seconds, 2) if crash_seconds else None,
        "fenced": fenced, "xcat": "real" if xcat.real() else "stand-in", "services": services}))
    return 0 if fenced and all(services.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
