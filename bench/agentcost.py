"""(3) What one agent action costs: ours against its stock counterpart.

The agents run inside the active node with the environment pacemaker-execd gives
them (its own environment plus the OCF variables of the resource and operation),
from a tiny runner under the node's /usr/bin/python3 that forks each one and
takes wall time, CPU (user+sys, including the agent's reaped children) and peak
RSS (the largest process among the agent and its children) from os.wait4.  It
also notes the CPU time PID 1 (systemd) spent meanwhile: systemctl hands its
work to it.

The cluster is in maintenance mode meanwhile (no monitors of its own, no
recovery).  Each cycle, starting with our group running: a block of our
monitors, our stop (reverse order), stock start, a block of stock monitors,
stock stop, our start.  Every agent monitors the daemons it started itself, and
the two sides alternate in blocks, so that a change in the machine's load
touches both alike.

systemd: counterparts (xcatd, conserver-server) have no agent process:
pacemaker-execd asks systemd over D-Bus.  Their nearest equivalents are measured:
`systemctl show -p ActiveState,SubState,MainPID UNIT` for a monitor, `systemctl
start|stop UNIT` for start and stop.  The five symlink resources together are
the counterpart of shared-data.
"""
import json
import math
import statistics
import xml.etree.ElementTree as ET

from lab.util import log

from . import groups

RUNNER = r"""
import json, os, resource, sys, time

def pid1_cpu():
    with open("/proc/1/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

results = []
for job in json.load(sys.stdin):
    before, started = pid1_cpu(), time.monotonic()
    pid = os.fork()
    if pid == 0:
        fd = os.open(os.devnull, os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(fd, target)
        os.setsid()
        try:
            os.execve(job["argv"][0], job["argv"], job["env"])
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.monotonic() - started
    results.append({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_kb": usage.ru_maxrss,
                    "pid1_cpu": pid1_cpu() - before, "rc": os.waitstatus_to_exitcode(status)})
json.dump(results, sys.stdout)
"""

OCF_ROOT = "/usr/lib/ocf"
SYSTEMCTL = "/usr/bin/systemctl"


# ---------------------------------------------------------------- what to run
class Resource:
    """One primitive as pacemaker-execd runs it: its agent, parameters and operations."""

    def __init__(self, rid, standard, provider, kind, params, monitors, timeouts):
        self.rid, self.standard, self.provider, self.kind = rid, standard, provider, kind
        self.params = params            # {name: value}
        self.monitors = monitors        # {depth: (interval_s, timeout_s)}
        self.timeouts = timeouts        # {"start": s, "stop": s}

    def job(self, action, base_env, depth=0):
        if self.standard == "systemd":
            if action == "monitor":
                argv = [SYSTEMCTL, "show", "-p", "ActiveState,SubState,MainPID", self.kind]
            else:
                argv = [SYSTEMCTL, action, self.kind]
            return {"argv": argv, "env": dict(base_env)}
        env = dict(base_env)
        env.update({"OCF_ROOT": OCF_ROOT, "OCF_RA_VERSION_MAJOR": "1", "OCF_RA_VERSION_MINOR": "1",
                    "OCF_RESOURCE_INSTANCE": self.rid, "OCF_RESOURCE_TYPE": self.kind,
                    "OCF_RESOURCE_PROVIDER": self.provider, "OCF_RESKEY_CRM_meta_name": action})
        for name, value in self.params.items():
            env["OCF_RESKEY_" + name] = value
        if action == "monitor":
            interval, timeout = self.monitor_op(depth)
            env["OCF_RESKEY_CRM_meta_interval"] = str(int(interval * 1000))
            env["OCF_CHECK_LEVEL"] = str(depth)
        else:
            timeout = self.timeouts.get(action, 20)
        env["OCF_RESKEY_CRM_meta_timeout"] = str(int(timeout * 1000))
        path = "%s/resource.d/%s/%s" % (OCF_ROOT, self.provider, self.kind)
        return {"argv": [path, action], "env": env}

    def monitor_op(self, depth):
        """The configured monitor of this depth, else the one a request of that depth runs."""
        if depth in self.monitors:
            return self.monitors[depth]
        return self.monitors[max(d for d in self.monitors if d <= depth)] if self.monitors else (10, 20)


def seconds(text):
    text = (text or "0").strip()
    for suffix, factor in (("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)):
        if text.endswith(suffix) and text[:-len(suffix)].replace(".", "", 1).isdigit():
            return float(text[:-len(suffix)]) * factor
    return float(text)


def resources_from_cib(xml_text):
    """{id: Resource} of every primitive in a CIB (monitor ops with a role are left out:
    they never run on a resource that is not promotable)."""
    found = {}
    for primitive in ET.fromstring(xml_text).iter("primitive"):  # noqa: S314 - our own lab's CIB
        params = {nv.get("name"): nv.get("value") for nv in primitive.findall("./instance_attributes/nvpair")}
        monitors, timeouts = {}, {}
        for op in primitive.findall("./operations/op"):
            timeout = seconds(op.get("timeout") or "20s")
            if op.get("name") == "monitor" and not op.get("role"):
                level = op.find("./instance_attributes/nvpair[@name='OCF_CHECK_LEVEL']")
                depth = int(level.get("value")) if level is not None else 0
                monitors[depth] = (seconds(op.get("interval")), timeout)
            elif op.get("name") in ("start", "stop"):
                timeouts[op.get("name")] = timeout
        found[primitive.get("id")] = Resource(primitive.get("id"), primitive.get("class"), primitive.get("provider"),
                                              primitive.get("type"), params, monitors, timeouts)
    return found


def stock_resources(lab):
    """The stock recipe's primitives as pcs would configure them, rendered offline (pcs -f)."""
    node = lab.node(lab.cfg.node_names[0])
    script = ["set -e", "f=$(mktemp)", "cibadmin --empty > $f"]
    for rid, agent, params in groups.stock_resources(lab.cfg):
        options = " ".join("%s=%s" % item for item in params.items())
        script.append("pcs -f $f resource create %s %s %s --group xcatstock >/dev/null" % (rid, agent, options))
    script += ["cat $f", "rm -f $f"]
    return resources_from_cib(node.exec(["sh", "-c", "\n".join(script)], timeout=300, check=True).stdout)


def cib_resources(node):
    return resources_from_cib(node.exec(["cibadmin", "--query", "--scope", "resources"], timeout=60,
                                        check=True).stdout)


def execd_environment(node):
    """pacemaker-execd's environment (HA_logfile, HA_logfacility, HA_debug, PATH, ...)."""
    script = 'cat /proc/$(pidof pacemaker-execd)/environ'
    text = node.exec(["sh", "-c", script], timeout=30, check=True).stdout
    env = dict(item.split("=", 1) for item in text.split("\0") if "=" in item)
    keep = ("PATH", "LANG", "LC_ALL")
    return {key: value for key, value in env.items() if key in keep or key.startswith(("HA_", "PCMK_"))}


# ---------------------------------------------------------------- running
def run_jobs(node, jobs):
    """Run jobs in the node, one after the other; their measurements, in order."""
    if not jobs:
        return []
    timeout = 60 + sum(float(job["env"].get("OCF_RESKEY_CRM_meta_timeout", "100000")) / 1000 for job in jobs)
    result = node.exec(["/usr/bin/python3", "-c", RUNNER], input=json.dumps(jobs), timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError("agent runner failed: %s" % result.stderr.strip()[-800:])
    return json.loads(result.stdout)


class Samples:
    """Measurements keyed by (our agent, side, operation); a counterpart made of several
    resources (the five symlinks) counts as one sample per round: summed wall and CPU,
    the largest RSS."""

    def __init__(self):
        self.data = {}
        self.failures = []

    def add(self, agent, side, operation, measurements, labels):
        failed = [(label, m["rc"]) for label, m in zip(labels, measurements) if m["rc"] != 0]
        for label, rc in failed:
            self.failures.append("%s %s (%s): rc=%d" % (label, operation, side, rc))
        sample = {"wall": sum(m["wall"] for m in measurements), "cpu": sum(m["cpu"] for m in measurements),
                  "rss_kb": max(m["rss_kb"] for m in measurements),
                  "pid1_cpu": sum(m["pid1_cpu"] for m in measurements)}
        self.data.setdefault((agent, side, operation), []).append(sample)


class Plan:
    def __init__(self, lab, node, ours, stock, base_env):
        self.lab, self.node, self.base_env = lab, node, base_env
        self.ours, self.stock = ours, stock          # {id: Resource}
        self.stock_group = groups.stock_group(lab.cfg)
        self.samples = Samples()

    def side(self, name):
        """[(our agent, [resources])] in group order for one side."""
        if name == "ours":
            return [(agent, [self.ours[agent]]) for agent in groups.OURS.members]
        return [(agent, [self.stock[rid] for rid in self.stock_group.counterparts[agent]])
                for agent in groups.OURS.members]

    def monitor_block(self, side, rounds):
        jobs, keys = [], []
        for _ in range(rounds):
            for agent, resources in self.side(side):
                for depth in (0, 10):
                    keys.append((agent, "monitor_%d" % depth, [r.rid for r in resources]))
                    jobs += [r.job("monitor", self.base_env, depth) for r in resources]
        self._record(side, keys, run_jobs(self.node, jobs))

    def actions(self, side, action):
        members = self.side(side)
        if action == "stop":
            members = [(agent, list(reversed(resources))) for agent, resources in reversed(members)]
        for agent, resources in members:
            measured = run_jobs(self.node, [r.job(action, self.base_env) for r in resources])
            self._record(side, [(agent, action, [r.rid for r in resources])], measured)
            if any(m["rc"] != 0 for m in measured):
                raise RuntimeError("%s %s (%s) failed: %s" % (agent, action, side, measured))

    def restore(self):
        """After a failure: whatever the stock side started is stopped, ours started again."""
        log.warning("bench: agent cost failed; stopping the stock side and starting ours again")
        stops = [r.job("stop", self.base_env) for _, resources in reversed(self.side("stock"))
                 for r in reversed(resources)]
        starts = [r.job("start", self.base_env) for _, resources in self.side("ours") for r in resources]
        for jobs in (stops, starts):
            try:
                run_jobs(self.node, jobs)
            except Exception as error:  # noqa: BLE001 - best effort; the caller reports the first failure
                log.warning("bench: %s", error)

    def _record(self, side, keys, measured):
        position = 0
        for agent, operation, rids in keys:
            chunk = measured[position:position + len(rids)]
            position += len(rids)
            self.samples.add(agent, side, operation, chunk, rids)


def measure(lab, node, monitor_runs=20, action_runs=5):
    """Interleaved cycles (see the module's documentation); returns the per-agent summary."""
    ours = cib_resources(node)
    stock = stock_resources(lab)
    plan = Plan(lab, node, ours, stock, execd_environment(node))
    cycles = max(1, action_runs)
    rounds = max(1, math.ceil(monitor_runs / cycles))
    set_maintenance(node, True)
    try:
        for cycle in range(1, cycles + 1):
            log.info("bench: agent cost, cycle %d/%d (%d monitor rounds per side)", cycle, cycles, rounds)
            plan.monitor_block("ours", rounds)
            plan.actions("ours", "stop")
            plan.actions("stock", "start")
            plan.monitor_block("stock", rounds)
            plan.actions("stock", "stop")
            plan.actions("ours", "start")
    except Exception:
        plan.restore()
        raise
    finally:
        set_maintenance(node, False)
    return summarize(plan.samples, ours, stock, plan.stock_group)


def set_maintenance(node, on):
    node.exec(["pcs", "property", "set", "maintenance-mode=%s" % ("true" if on else "false")], timeout=60,
              check=True)


# ---------------------------------------------------------------- summary
def stats(values):
    values = sorted(values)
    return {"min": values[0], "median": statistics.median(values), "max": values[-1], "n": len(values)}


def ratio(ours, stock):
    return ours / stock if stock else None


def summarize(samples, ours, stock, stock_group):
    agents = {}
    for agent in groups.OURS.members:
        entry = {"counterpart": [describe(stock[rid]) for rid in stock_group.counterparts[agent]],
                 "intervals": {"ours": monitor_intervals(ours[agent]),
                               "stock": [monitor_intervals(stock[rid]) for rid in stock_group.counterparts[agent]]}}
        for operation in ("monitor_0", "monitor_10", "start", "stop"):
            mine = samples.data.get((agent, "ours", operation))
            theirs = samples.data.get((agent, "stock", operation))
            if not mine or not theirs:
                continue
            row = {"ours": {key: stats([s[key] for s in mine]) for key in mine[0]},
                   "stock": {key: stats([s[key] for s in theirs]) for key in theirs[0]}}
            row["ratio"] = {key: ratio(row["ours"][key]["median"], row["stock"][key]["median"])
                            for key in ("wall", "cpu", "rss_kb")}
            entry[operation] = row
        agents[agent] = entry
    return {"agents": agents, "failures": samples.failures}


def describe(resource):
    if resource.standard == "systemd":
        return "systemd:%s" % resource.kind
    return "ocf:%s:%s (%s)" % (resource.provider, resource.kind, resource.rid)


def monitor_intervals(resource):
    return {str(depth): interval for depth, (interval, _) in sorted(resource.monitors.items())}
