"""The pair's state as the fault run needs it: crm_mon's XML as one node sees it,
fencing since a moment, failures left behind, and excerpts of pacemaker.log.

A reader asked on a node that cannot answer (off, rebooting, its cluster stack
down) returns None or an empty answer instead of raising.
"""
import datetime
import re
import xml.etree.ElementTree as ET

from lab import pair
from lab.util import LabError

UTC = datetime.timezone.utc


def status(lab, via=None):
    """crm_mon's XML as node `via` sees it (None: the first running node), or None."""
    try:
        node = lab.node(via) if via else pair.any_running_node(lab)
        if not node.running:
            return None
        result = node.exec(["crm_mon", "--one-shot", "--output-as=xml"], timeout=30)
        return ET.fromstring(result.stdout) if result.returncode == 0 else None
    except (LabError, RuntimeError, ET.ParseError):
        return None


def quorate(root):
    dc = root.find("summary/current_dc")
    return dc is not None and dc.get("present") == "true" and dc.get("with_quorum") == "true"


def online(root):
    return sorted(n.get("name") for n in root.findall("nodes/node") if n.get("online") == "true")


def down_clean(root, name):
    """The node is offline and not unclean in this view: lost, and known to run nothing (a
    node that leaves before its join completed was never given anything: nothing to fence)."""
    for node in root.findall("nodes/node") if root is not None else []:
        if node.get("name") == name:
            return node.get("online") == "false" and node.get("unclean") == "false"
    return False


def resources(root):
    """Every primitive (fence devices and the group's members), by id."""
    section = root.find("resources")
    return {} if section is None else {r.get("id"): r for r in section.iter("resource")}


def running_on(resource):
    return [n.get("name") for n in resource.findall("node")]


def group_on(root):
    """The node where every member of the group is started and healthy, as seen by a
    quorate partition; else None."""
    if root is None or not quorate(root):
        return None
    found = resources(root)
    where = set()
    for name in pair.MEMBERS:
        member = found.get(name)
        if member is None or member.get("role") != "Started" or member.get("active") != "true":
            return None
        if member.get("failed") == "true" or member.get("blocked") == "true" or len(running_on(member)) != 1:
            return None
        where.update(running_on(member))
    return where.pop() if len(where) == 1 and where <= set(online(root)) else None


def failure_resource(failure):
    """'shared-data_monitor_10000' -> 'shared-data'."""
    return failure.get("op_key", "").rsplit("_", 2)[0]


def stuck(root):
    """What is left failed, blocked or unmanaged, and failures whose resource is not running."""
    problems = []
    found = resources(root)
    for name, resource in found.items():
        for flag, bad in (("failed", "true"), ("blocked", "true"), ("managed", "false")):
            if resource.get(flag) == bad:
                problems.append("%s is %s%s" % (name, "un" if flag == "managed" else "", flag))
    for failure in root.iter("failure"):
        name = failure_resource(failure)
        if name in found and found[name].get("active") != "true":
            problems.append("%s stays stopped after %s failed on %s (%s%s)" % (
                name, failure.get("task"), failure.get("node"), failure.get("exitstatus"),
                ", " + failure.get("exitreason") if failure.get("exitreason") else ""))
    return problems


def blocked(root):
    """Resources Pacemaker gave up on: blocked (a stop failed and no fencing followed) or unmanaged."""
    if root is None:
        return []
    return sorted(name for name, r in resources(root).items()
                  if r.get("blocked") == "true" or r.get("managed") == "false")


def not_running(root):
    """Configured resources that run nowhere (with both nodes up, each should run)."""
    return sorted(name for name, r in resources(root).items() if r.get("active") != "true")


def fail_count(root, resource):
    if root is None:
        return 0
    return sum(int(h.get("fail-count", "0") or 0) for h in root.iter("resource_history")
               if h.get("id") == resource)


def failures(root):
    """'named monitor on host1: not running (reason)' for each failure crm_mon lists."""
    return ["%s %s on %s: %s%s" % (failure_resource(f), f.get("task"), f.get("node"), f.get("exitstatus"),
                                   " (%s)" % f.get("exitreason") if f.get("exitreason") else "")
            for f in root.iter("failure")] if root is not None else []


# ---------------------------------------------------------------- fencing
def _epoch(completed):
    """'2026-11-24 23:44:05Z' (crm_mon/stonith_admin XML) -> epoch seconds, or None."""
    for fmt in ("%Y-%m-%d %H:%M:%SZ", "%Y-%m-%d %H:%M:%S%z"):
        try:
            stamp = datetime.datetime.strptime(completed or "", fmt)
        except ValueError:
            continue
        return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()
    return None


def fence_history(lab, via):
    """Every fencing node `via`'s fencer remembers.  --verbose matters: without it
    stonith_admin (2.1.5) lists one event per node, the first, not the last."""
    result = lab.node(via).exec(["stonith_admin", "--history", "*", "--verbose", "--output-as=xml"], timeout=30)
    if result.returncode != 0:
        return []
    return [dict(event.attrib) for event in ET.fromstring(result.stdout).iter("fence_event")]


def fenced_since(lab, since, via=None, ask=None):
    """Nodes successfully fenced at or after `since` (epoch seconds), as the running
    nodes' fencers remember it (asked on `via` first; only the nodes in `ask` if given)."""
    names = [via] if via else []
    names += [n for n in lab.cfg.node_names if n not in names]
    names = [n for n in names if ask is None or n in ask]
    targets = set()
    for name in names:
        if not lab.node(name).running:
            continue
        try:
            events = fence_history(lab, name)
        except (LabError, ET.ParseError):
            continue
        for event in events:
            stamp = _epoch(event.get("completed"))
            if event.get("status") == "success" and stamp is not None and stamp >= int(since):
                targets.add(event.get("target"))
    return sorted(targets)


# ---------------------------------------------------------------- pacemaker.log, read from the host side
NOISE = ("DeprecationWarning", "from pipes import quote", "(cib_perform_op)", "(log_op_output)",
         "(get_action_delay_base)")
# Probe and monitor results and the scheduler's "active on 2 nodes" say why a member was
# restarted where nothing failed (the flapping-peer restart of db seen in make test).
# The DC's "confirmed" lines keep a crashed node's probe results (its own log loses its last
# seconds with it), "was pending" the actions a crash cut off.
INTERESTING = re.compile(r"error|warning|exit-reason|Result of (start|stop|probe|monitor)|_0 on \S+\) confirmed|"
                         r"was pending on|[Ff]enc|state is now lost|"
                         r"Recover|Move |Stop |Start |Restart |terminated|respawn|Shutting down|exited|"
                         r"active on \d+ nodes|[Mm]ultiple|unexpected")


AGENT_LINE = re.compile(r"^\S+\(\S+\)\[\d+\]:\s+(\d{4}/\d\d/\d\d_\d\d:\d\d:\d\d) ")


def _log_lines(lab, name, since):
    """(epoch, line) of node `name`'s pacemaker.log from `since` on.  Read through the
    node's root on the host: works while the node is off."""
    path = lab.node(name).root / pair.PACEMAKER_LOG.lstrip("/")
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    year = datetime.date.today().year
    lines = []
    for line in text.splitlines():
        try:
            stamp = datetime.datetime.strptime("%d %s" % (year, line[:19]), "%Y %b %d %H:%M:%S.%f").timestamp()
        except ValueError:
            # an agent's own line: "db(db)[761]:\t2026/12/01_05:37:07 WARNING: ..." (to the second)
            agent = AGENT_LINE.match(line)
            if not agent:
                continue
            stamp = datetime.datetime.strptime(agent.group(1), "%Y/%m/%d_%H:%M:%S").timestamp()
        if stamp >= since:
            lines.append((stamp, line))
    return lines


def log_lines(lab, name, since):
    """The lines of a node's pacemaker.log since `since` (epoch seconds)."""
    return [line for _, line in _log_lines(lab, name, since)]


def notable(line):
    return bool(INTERESTING.search(line)) and not any(n in line for n in NOISE)


def log_excerpt(lab, name, since, limit=150):
    """A node's notable pacemaker.log lines since `since`: all of them, or the first and the
    last when there are more than `limit` (what decided the outcome comes late in a fault)."""
    kept = [line for _, line in _log_lines(lab, name, since) if notable(line)]
    if len(kept) <= limit:
        return kept
    head = limit // 4
    return kept[:head] + ["[... %d lines ...]" % (len(kept) - limit)] + kept[-(limit - head):]


def events(lab, since):
    """(epoch, 'node: event') from both nodes' logs: fencing, losses, starts and stops."""
    seen, found = set(), []
    for name in lab.cfg.node_names:
        for stamp, line in _log_lines(lab, name, since):
            for pattern, template in pair.EVENT_PATTERNS:
                match = pattern.search(line)
                if match:
                    event = template.format(*match.groups())
                    if (event, int(stamp)) not in seen:  # both nodes log fencing and losses
                        seen.add((event, int(stamp)))
                        found.append((stamp, event))
                    break
    return sorted(found)


# The controller executing a fencing action.  Not the scheduler's "will be fenced": a
# transition that would fence a node is dropped when its controller rejoins first.
FENCE_REQUEST = re.compile(r"Requesting fencing \(\w+\) of node (\S+)")


def fenced_in_logs(lab, since):
    """Nodes whose fencing succeeded since `since`, from both nodes' logs: unlike the
    fencers' memory, the logs survive a crash of every node that saw it."""
    return sorted({event.split()[0] for _, event in events(lab, since) if " fenced (" in event})


def fencing_requested_since(lab, since):
    """Nodes whose fencing a controller set off since `since` (from both nodes' logs)."""
    found = set()
    for name in lab.cfg.node_names:
        for _, line in _log_lines(lab, name, since):
            match = FENCE_REQUEST.search(line)
            if match:
                found.add(match.group(1))
    return sorted(found)


def fencing_pending(lab):
    """True while a fencing action is still under way (as the running nodes' fencers see it)."""
    for name in lab.cfg.node_names:
        if lab.node(name).running:
            try:
                if any(e.get("status") not in ("success", "failed") for e in fence_history(lab, name)):
                    return True
            except (LabError, ET.ParseError):
                continue
    return False


FENCE_REASON = re.compile(r"[Nn]ode (\S+) will be fenced:? (.*?)\s*$")


def fence_reasons(lab, since):
    """{node: why the scheduler fenced it} from both nodes' logs since `since`."""
    reasons = {}
    for name in lab.cfg.node_names:
        for _, line in _log_lines(lab, name, since):
            match = FENCE_REASON.search(line)
            if match:
                reasons.setdefault(match.group(1), match.group(2))
    return reasons
