"""What the survivor's pacemaker.log says happened after an instant: the peer lost,
fencing requested and done, each operation initiated and its result, and the
one line our agents log per start/stop (its duration and own CPU time)."""
import datetime
import re

from lab import pair

PACEMAKER = re.compile(r"^(\w{3} +\d+ \d\d:\d\d:\d\d\.\d+) \S+ \S+ +\[\d+\] \(\w+\)\s+\w+: (.*)$")
MESSAGES = (
    ("lost", re.compile(r"Node (\S+) state is now lost")),
    ("fence_requested", re.compile(r"Requesting fencing \((\w+)\) of node (\S+)")),
    ("fenced", re.compile(r"Operation '?(\w+)'? targeting (\S+) by \S+ for \S+: OK")),
    ("initiated", re.compile(r"Initiating (start|stop) operation (\S+)_(?:start|stop)_0 (?:locally )?on (\S+)")),
    ("result", re.compile(r"Result of (start|stop) operation for (\S+) on (\S+): (\w+)")),
)
OUR_AGENT = re.compile(r"^([\w-]+)\(([\w-]+)\)\[\d+\]:\s+(\d{4}/\d\d/\d\d_\d\d:\d\d:\d\d) INFO: (start|stop): "
                       r"rc=(\d+) \(\w+\) in ([\d.]+)s, own CPU ([\d.]+)s")


def read_log(lab, node_name):
    return lab.node(node_name).exec(["cat", pair.PACEMAKER_LOG], timeout=60).stdout


def _pacemaker_stamp(text, year):
    return datetime.datetime.strptime("%d %s" % (year, " ".join(text.split())), "%Y %b %d %H:%M:%S.%f").timestamp()


def parse(text, since, until=None):
    """[(epoch seconds, kind, fields)] after `since` (and before `until`), in log order;
    kind is one of lost, fence_requested, fenced, initiated, result, agent."""
    year = datetime.date.today().year
    until = float("inf") if until is None else until
    events, seen = [], set()
    for line in text.splitlines():
        found = PACEMAKER.match(line)
        if found:
            for kind, pattern in MESSAGES:
                match = pattern.search(found.group(2))
                if match:
                    stamp = _pacemaker_stamp(found.group(1), year)
                    key = (kind, match.groups(), round(stamp, 1))  # several daemons log the same loss
                    if since <= stamp <= until and key not in seen:
                        seen.add(key)
                        events.append((stamp, kind, match.groups()))
                    break
            continue
        match = OUR_AGENT.match(line)
        if match:
            agent, resource, stamp, action, rc, wall, cpu = match.groups()
            stamp = datetime.datetime.strptime(stamp, "%Y/%m/%d_%H:%M:%S").timestamp()
            # whole seconds: an action that ended in the second of `since` still counts
            if since - 1 <= stamp <= until:
                events.append((stamp, "agent", (agent, resource, action, int(rc), float(wall), float(cpu))))
    return events


def first(events, kind, test=lambda fields: True):
    for stamp, what, fields in events:
        if what == kind and test(fields):
            return stamp
    return None


def timeline(events, members, node, since, peer=None, action="start"):
    """Milestones (seconds after `since`) of a failover or move onto `node`: the loss and
    fencing of `peer` {"lost", "fence_requested", "fenced"}, and per member its `action`
    on `node`: {"initiated", "done", "result"}."""
    def rel(stamp):
        return None if stamp is None else stamp - since
    marks = {"lost": rel(first(events, "lost", lambda f: f[0] == peer)),
             "fence_requested": rel(first(events, "fence_requested", lambda f: f[1] == peer)),
             "fenced": rel(first(events, "fenced", lambda f: f[1] == peer))}
    operations = {}
    for member in members:
        def mine(fields, member=member):
            return fields[0] == action and fields[1] == member and fields[2] == node
        result = next((f[3] for _, kind, f in events if kind == "result" and mine(f)), None)
        operations[member] = {"initiated": rel(first(events, "initiated", mine)),
                              "done": rel(first(events, "result", mine)), "result": result}
    return marks, operations


def agent_lines(events, action="start"):
    """Our agents' own lines: [{"resource", "wall", "cpu", "rc"}] for one action."""
    return [{"agent": f[0], "resource": f[1], "rc": f[3], "wall": f[4], "cpu": f[5]}
            for _, kind, f in events if kind == "agent" and f[2] == action]
