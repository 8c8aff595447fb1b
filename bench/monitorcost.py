"""(4) What watching the group costs per hour, with the group running alone and idle.

Over a window, on the active node: the CPU time of pacemaker-execd including its
reaped children (utime+stime+cutime+cstime: the agents are its children), plus
systemd (the node's PID 1) and dbus-daemon, where the monitors of systemd:
resources cost.  The node's whole cgroup (every process of the node) is noted
too.  Measured the same way with no group at all, that is the baseline.
"""
import json
import statistics
import time

from lab.node import cgroup_dirs
from lab.util import log

COUNTERS = r"""
import json, os
tick = os.sysconf("SC_CLK_TCK")
def pids(name):
    found = []
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/comm" % pid) as f:
                if f.read().strip() == name:
                    found.append(pid)
        except (OSError, ValueError):
            pass
    return found
def cpu(pid, children):
    with open("/proc/%s/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    used = [int(v) for v in fields[11:15]]
    return sum(used if children else used[:2]) / tick
out = {"execd": sum(cpu(p, True) for p in pids("pacemaker-execd")),
       "systemd": cpu(1, False),
       "dbus": sum(cpu(p, False) for p in pids("dbus-daemon"))}
print(json.dumps(out))
"""
PARTS = ("execd", "systemd", "dbus")


def counters(lab, node_name):
    values = json.loads(lab.node(node_name).exec(["/usr/bin/python3", "-c", COUNTERS], timeout=30,
                                                 check=True).stdout)
    values["node_cgroup"] = node_cgroup_cpu(lab, node_name)
    return values


def node_cgroup_cpu(lab, node_name):
    for directory in cgroup_dirs(lab.cfg, node_name):
        stat = directory / "cpu.stat"
        if stat.exists():
            for line in stat.read_text().splitlines():
                key, value = line.split()
                if key == "usage_usec":
                    return int(value) / 1e6
    return None


def window(lab, node_name, seconds, label, slices=4):
    """CPU seconds per hour of each part over a window of `seconds`, read in `slices`:
    the result is the median slice (robust to one burst of unrelated work), the
    whole-window average and the slices' spread are kept too."""
    log.info("bench: monitoring cost of %s on %s: %.0f s window", label, node_name, seconds)
    readings = [(time.monotonic(), counters(lab, node_name))]
    for _ in range(slices):
        time.sleep(seconds / slices)
        readings.append((time.monotonic(), counters(lab, node_name)))
    rates = [rate(a, b) for a, b in zip(readings, readings[1:])]
    whole = rate(readings[0], readings[-1])
    per_hour = {key: statistics.median(r[key] for r in rates) for key in whole}
    return {"node": node_name, "window_s": readings[-1][0] - readings[0][0], "cpu_s_per_hour": per_hour,
            "average": whole, "slices": rates}


def rate(first, second):
    (start, before), (end, after) = first, second
    per_hour = {key: (after[key] - before[key]) * 3600 / (end - start)
                for key in before if before[key] is not None and after[key] is not None}
    per_hour["total"] = sum(per_hour[key] for key in PARTS)
    return per_hour


def expected(agent_cost, side, intervals_of):
    """CPU seconds per hour the configured monitors should cost, from the agent cost
    measurements (median CPU of one run, plus what PID 1 spent) × runs per hour."""
    total, parts = 0.0, {}
    for agent, entry in agent_cost["agents"].items():
        cost = 0.0
        for depth, interval in intervals_of(entry).items():
            row = entry.get("monitor_%s" % depth)
            if row and interval:
                one = row[side]["cpu"]["median"] + row[side]["pid1_cpu"]["median"]
                cost += one * 3600 / interval
        parts[agent] = cost
        total += cost
    return {"total": total, "per_agent": parts, "agent_runs_per_hour": runs_per_hour(agent_cost, side, intervals_of)}


def runs_per_hour(agent_cost, side, intervals_of):
    """Monitor runs per hour the configured intervals make (each symlink counts)."""
    runs = 0.0
    for entry in agent_cost["agents"].values():
        copies = 1 if side == "ours" else len(entry["intervals"]["stock"])
        runs += copies * sum(3600 / interval for interval in intervals_of(entry).values() if interval)
    return runs


def ours_intervals(entry):
    return entry["intervals"]["ours"]


def stock_intervals(entry):
    """The counterparts' monitor intervals; several resources (the symlinks) share one."""
    intervals = entry["intervals"]["stock"]
    return intervals[0] if intervals else {}
