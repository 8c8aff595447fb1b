"""What must hold while faults run, and the background threads that watch it: the VIP
(VipWatch) and what each node serves (NodeWatch): database servers on the shared data,
xcatd listening, xCAT's links into the shared data.

NodeWatch reads the nodes from the host (their cgroups, /proc, their roots), not with an
exec into them: it costs a few hundred file reads per sample, and it keeps seeing a node
whose processes are frozen.  The checks on what it recorded (`overlaps`) are pure.
"""
import os
import stat
import subprocess
import threading
import time
from collections import deque
from pathlib import Path

from lab import xcat
from lab.node import cgroup_dirs
from lab.util import log

SHARED_DIR = "/HA-data"
DB_COMMS = ("postgres", "mariadbd", "mysqld")       # every engine's server (SQLite has none)
# xcatd's processes name themselves "xcatd: SSL listener", "xcatd SSL: <request>"...; a
# process named just "xcatd" is the resource agent of that name.
XCATD_COMMS = ("xcatd:", "xcatd ")
# xCAT's links and every engine's database directories: only the engine in use has links.
LINKED_DIRS = tuple(xcat.XCAT_DIRS) + tuple(d for dirs in xcat.DB_DIRS.values() for d in dirs)


class Violations:
    """Breaches of the invariants, each tagged with the fault being run."""

    def __init__(self, say=print):
        self._lock = threading.Lock()
        self._say = say
        self.items = []
        self.context = "set-up"

    def add(self, message):
        with self._lock:
            entry = "%s: %s" % (self.context, message)
            self.items.append(entry)
        log.warning("VIOLATION %s", entry)
        self._say("   VIOLATION %s" % entry)

    def since(self, count):
        with self._lock:
            return self.items[count:]

    def __len__(self):
        with self._lock:
            return len(self.items)


class VipWatch(threading.Thread):
    """Samples which nodes hold the VIP on an interface that is up (a powered-off
    node's down link keeps its addresses, but holds nothing), from the host with
    `ip -n <node's netns> -o -4 addr show up`, alternating between the nodes.
    Three samples X, Y, X that all show the VIP mean that X and Y held it at once:
    X cannot hand it over and get it back between two of its samples."""

    def __init__(self, lab, violations, pause=0.03):
        super().__init__(name="vip-watch", daemon=True)
        self.violations = violations
        self.pause = pause
        self.nodes = list(lab.cfg.node_names)
        self.netns = {name: lab.cfg.node_netns(name) for name in self.nodes}
        self.needle = " %s/" % lab.cfg.vip
        self.samples = dict.fromkeys(self.nodes, 0)
        self.max_gap = dict.fromkeys(self.nodes, 0.0)
        self.errors = 0
        self.both = 0                      # samples showing the VIP on two nodes
        self._reported = set()             # contexts already reported
        self._halt = threading.Event()
        self._span = [0.0, 0.0]
        self._held = {}
        self.transitions = []              # (time.time(), node, held) whenever a node's answer changes

    def holds(self, name):
        """True/False, or None when it cannot tell."""
        try:
            result = subprocess.run(["ip", "-n", self.netns[name], "-o", "-4", "addr", "show", "up"],
                                    capture_output=True, text=True, timeout=5)
        except subprocess.TimeoutExpired:
            return None
        return self.needle in result.stdout if result.returncode == 0 else None

    def run(self):
        recent = deque(maxlen=3)
        last = {}
        self._span[0] = time.monotonic()
        while not self._halt.is_set():
            for name in self.nodes:
                held = self.holds(name)
                now = time.monotonic()
                if held is None:
                    self.errors += 1
                    recent.clear()
                    continue
                self.samples[name] += 1
                if self._held.get(name) != held:
                    self._held[name] = held
                    self.transitions.append((time.time(), name, held))
                if name in last:
                    self.max_gap[name] = max(self.max_gap[name], now - last[name])
                last[name] = now
                recent.append((name, held))
                if len(recent) == 3 and recent[0][0] == recent[2][0] != recent[1][0] and all(h for _, h in recent):
                    self._breach(recent[0][0], recent[1][0])
            self._halt.wait(self.pause)
        self._span[1] = time.monotonic()

    def transitions_since(self, since):
        return [t for t in list(self.transitions) if t[0] >= since]

    def _breach(self, first, second):
        self.both += 1
        context = self.violations.context
        if context not in self._reported:
            self._reported.add(context)
            self.violations.add("the VIP was up on %s and %s at once" % tuple(sorted((first, second))))

    def stop(self):
        self._halt.set()
        self.join(timeout=10)

    def summary(self):
        seconds = max((self._span[1] or time.monotonic()) - self._span[0], 1e-6)
        return {
            "samples_per_s": round(min(self.samples.values()) / seconds, 1),
            "max_gap_s": round(max(self.max_gap.values()), 2),
            "samples": sum(self.samples.values()),
            "errors": self.errors,
            "both": self.both,
        }


# ---------------------------------------------------------------- what each node serves
def payload_cgroup(cfg, name):
    """The node's container cgroup in the cgroup v2 hierarchy (where cgroup.freeze is)."""
    for top in cgroup_dirs(cfg, name):
        if (top.parent.parent / "cgroup.controllers").exists():
            return top / "payload"
    raise RuntimeError("no cgroup v2 hierarchy for %s" % name)


def _read(path):
    try:
        with open(path) as stream:
            return stream.read()
    except OSError:
        return ""


def init_pid(payload):
    """Host pid of the node's systemd (its init.scope), or None while the node is off."""
    pids = _read(payload / "init.scope" / "cgroup.procs").split()
    return int(pids[0]) if pids else None


def node_pids(payload):
    pids = []
    for directory, _, files in os.walk(payload):
        if "cgroup.procs" in files:
            pids += [int(p) for p in _read(os.path.join(directory, "cgroup.procs")).split()]
    return pids


def processes(payload):
    """(host pid, comm) of every process of the node."""
    for pid in node_pids(payload):
        yield pid, _read("/proc/%d/comm" % pid).strip()


def xcatd_pids(payload):
    return [pid for pid, comm in processes(payload) if comm.startswith(XCATD_COMMS)]


def on_shared_data(pid):
    """The process works in the shared directory (a database server's cwd is its data directory)."""
    try:
        cwd = os.readlink("/proc/%d/cwd" % pid)
    except OSError:
        return False
    return cwd == SHARED_DIR or cwd.startswith(SHARED_DIR + "/")


def db_pids(payload):
    """Host pids of database servers working on the shared data."""
    return [pid for pid, comm in processes(payload) if comm in DB_COMMS and on_shared_data(pid)]


def process_identity(pid):
    """(pid, start time in ticks): a pid reused later is another process."""
    fields = _read("/proc/%d/stat" % pid).rsplit(")", 1)[-1].split()
    return (pid, fields[19]) if len(fields) > 19 else None


def read_node(root, payload):
    """What the node serves right now, as {attribute: frozenset of identities}, or
    None while it is off.  An identity stays the same as long as the thing lives (a
    process, a symlink), which is what `overlaps` relies on.  xcatd counts by its
    processes, not its listening socket: /proc/<pid>/net/tcp walks every network
    namespace's sockets and costs ~50 ms here.
    Links count only once the node's cluster stack runs (or it serves something): a
    node that crashed while active boots with its links until xcatha-boot-cleanup,
    which runs before the cluster stack, removes them."""
    if init_pid(payload) is None:
        return None
    state = {"db": set(), "xcatd": set()}
    stack = False
    for pid, comm in processes(payload):
        if comm == "pacemakerd":
            stack = True
        elif comm.startswith(XCATD_COMMS) or (comm in DB_COMMS and on_shared_data(pid)):
            identity = process_identity(pid)
            if identity:
                state["xcatd" if comm.startswith(XCATD_COMMS) else "db"].add(identity)
    counted = stack or state["db"] or state["xcatd"]
    for directory in LINKED_DIRS:
        path = str(root) + directory
        links = set()
        try:
            info = os.lstat(path)
            if counted and stat.S_ISLNK(info.st_mode) and os.readlink(path).startswith(SHARED_DIR + "/"):
                links.add((info.st_ino, info.st_ctime_ns))
        except OSError:
            pass
        state["link " + directory] = links
    return {key: frozenset(value) for key, value in state.items()}


ATTRIBUTES = {"db": "a database server on %s" % SHARED_DIR, "xcatd": "xcatd"}


def describe(attribute):
    if attribute.startswith("link "):
        return "%s linked into %s" % (attribute[5:], SHARED_DIR)
    return ATTRIBUTES.get(attribute, attribute)


def overlaps(samples):
    """[(attribute, first node, second node, time)] for each attribute held by two nodes
    at once.  `samples` are (time, node, state or None) in time order.  Node X held it
    at Y's sample when X's samples just before and just after show the same identity
    (the same process, socket or link lived all along): no false alarm at a handover.
    One finding per attribute."""
    around = [({}, {}) for _ in samples]      # per sample: {node: index of its sample before / after}
    last = {}
    for index, (_, node, _) in enumerate(samples):
        around[index][0].update(last)
        last[node] = index
    last = {}
    for index in range(len(samples) - 1, -1, -1):
        around[index][1].update(last)
        last[samples[index][1]] = index
    found = {}
    for index, (stamp, node, state) in enumerate(samples):
        for attribute, identities in (state or {}).items():
            if not identities or attribute in found:
                continue
            for other, before in around[index][0].items():
                after = around[index][1].get(other)
                if other == node or after is None:
                    continue
                first, then = samples[before][2], samples[after][2]
                if first and then and first.get(attribute, frozenset()) & then.get(attribute, frozenset()):
                    found[attribute] = (attribute, other, node, stamp)
                    break
    return list(found.values())


class NodeWatch(threading.Thread):
    """Samples every node with read_node, one after the other, and keeps the samples
    (time.time(), node, state) until the run takes them (`take`)."""

    def __init__(self, lab, pause=0.5):
        super().__init__(name="node-watch", daemon=True)
        self.pause = pause
        self.nodes = [(name, Path(lab.node(name).root), payload_cgroup(lab.cfg, name)) for name in lab.cfg.node_names]
        self._lock = threading.Lock()
        self._samples = []
        self._last = {}
        self._halt = threading.Event()
        self.count = 0
        self.errors = 0
        self.cost = 0.0

    def run(self):
        while not self._halt.is_set():
            for name, root, payload in self.nodes:
                started = time.monotonic()
                try:
                    state = read_node(root, payload)
                except Exception as error:  # noqa: BLE001 - a node may vanish mid-read
                    log.debug("node-watch %s: %s", name, error)
                    self.errors += 1
                    continue
                self.cost += time.monotonic() - started
                with self._lock:
                    self._samples.append((time.time(), name, state))
                    self.count += 1
            self._halt.wait(self.pause)

    def take(self):
        """The samples since the last take, preceded by each node's last sample before
        them (so that a check sees what held on across the boundary)."""
        with self._lock:
            taken, self._samples = self._samples, []
        context = [self._last[name] for name in sorted(self._last)]
        for sample in taken:
            self._last[sample[1]] = sample
        return sorted(context, key=lambda s: s[0]) + taken

    def stop(self):
        self._halt.set()
        self.join(timeout=10)

    def summary(self):
        return {"samples": self.count, "errors": self.errors,
                "ms_per_sample": round(1000 * self.cost / max(self.count, 1), 1)}
