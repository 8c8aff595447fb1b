"""(1) Crash of the active node and (2) planned move, for one group.

Crash: the active node's container is killed at once and its link taken down.
From the client namespace every service is probed through the VIP until it
answers (VIP ping, xcatd on 3001, the DNS A record, a DHCP offer, SQL on
xcatdb, the console server's port); the survivor's pacemaker.log gives detection (peer lost), fencing
(requested, done) and each member's start (initiated, done), relative to the
crash.  Then the fenced node boots again (its virtual BMC powers it on) and
rejoins; the next trial starts from a healthy pair and crashes the node that is
active then, so trials alternate between the nodes.

Planned move: `pcs resource move GROUP OTHER --wait`, timed until every service
answers from the other node (an answer counts only once the VIP is there).
"""
import threading
import time

from lab import pair
from lab.util import log, wait_for

from . import events, groups, probes

SERVICES = pair.SERVICES


def ready(lab, group, settle):
    """A healthy pair, the group running and every service answering; returns the active node."""
    active = groups.wait_healthy(lab, group)
    time.sleep(settle)
    end = time.monotonic() + 60
    while True:
        answers = pair.services_answer(lab)
        if all(answers.values()):
            return groups.active_node(lab, group) or active
        if time.monotonic() > end:
            raise RuntimeError("group %s runs but not every service answers: %s" % (group, answers))
        time.sleep(2)


def crash_trial(lab, group, settle=10):
    active = ready(lab, group, settle)
    survivor = pair.other(lab, active)
    log.info("bench: %s: crash of %s (active), %s survives", group, active, survivor)
    crashed_wall, crashed = time.time(), time.monotonic()
    lab.crash(active)
    answers = probes.first_answers(lab, crashed, timeout=180)
    found = logged_starts(lab, group, survivor, crashed_wall)
    marks, starts = events.timeline(found, group.members, survivor, crashed_wall, peer=active)
    fenced = marks["fenced"] is not None or any(event["target"] == active and event["status"] == "success"
                                                for event in pair.fence_history(lab, survivor))
    trial = {"crashed": active, "survivor": survivor, "crash_epoch": crashed_wall, "answers": answers,
             "all_answering": all_answering(answers), "marks": marks, "starts": starts, "fenced": fenced,
             "agent_starts": [line for line in events.agent_lines(found) if line["rc"] == 0]}
    log.info("bench: %s: crash of %s: all services answer after %s s (fenced: %s)", group, active,
             fmt(trial["all_answering"]), fenced)
    # the next trial starts with the fenced node back: its virtual BMC boots it after a delay
    if not wait_for(lambda: lab.node(active).running, lab.cfg.bmc_boot_delay + 90, 1):
        log.warning("bench: %s did not come back after fencing; booting it", active)
    groups.wait_healthy(lab, group)
    return trial


def logged_starts(lab, group, node, since, timeout=120):
    """The survivor's log once it shows every member's start result (crm_mon shows a
    member whose start is still running as active already)."""
    end = time.monotonic() + timeout
    while True:
        found = events.parse(events.read_log(lab, node), since - 0.5)
        _, starts = events.timeline(found, group.members, node, since)
        if all(start["done"] is not None for start in starts.values()) or time.monotonic() > end:
            return found
        time.sleep(1)


def planned_trial(lab, group, settle=10, timeout=180):
    active = ready(lab, group, settle)
    target = pair.other(lab, active)
    log.info("bench: %s: pcs resource move to %s", group, target)
    outcome = {}

    def move():
        outcome["result"] = lab.node(active).exec(["pcs", "resource", "move", group.name, target,
                                                   "--wait=%d" % timeout], timeout=timeout + 30)
    started_wall, started = time.time(), time.monotonic()
    mover = threading.Thread(target=move)
    mover.start()
    answers = probes.first_answers(lab, started, timeout=timeout, on=target)
    mover.join()
    lab.node(target).exec(["pcs", "resource", "clear", group.name], timeout=60)
    # the DC logs "Initiating ...", the node that runs an operation its result: read both
    found = sorted(event for name in (active, target)
                   for event in events.parse(events.read_log(lab, name), started_wall - 0.5))
    _, starts = events.timeline(found, group.members, target, started_wall)
    _, stops = events.timeline(found, group.members, active, started_wall, action="stop")
    trial = {"from": active, "to": target, "answers": answers, "all_answering": all_answering(answers),
             "stops": stops, "starts": starts, "pcs_rc": outcome["result"].returncode}
    log.info("bench: %s: planned move to %s: all services answer after %s s", group, target,
             fmt(trial["all_answering"]))
    return trial


def all_answering(answers):
    if any(seconds is None for seconds in answers.values()):
        return None
    return max(answers.values())


def fmt(value):
    return "never" if value is None else "%.2f" % value
