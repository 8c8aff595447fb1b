"""What must hold while faults run, and the background thread that watches the VIP."""
import subprocess
import threading
import time
from collections import deque

from lab.util import log


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
                if name in last:
                    self.max_gap[name] = max(self.max_gap[name], now - last[name])
                last[name] = now
                recent.append((name, held))
                if len(recent) == 3 and recent[0][0] == recent[2][0] != recent[1][0] and all(h for _, h in recent):
                    self._breach(recent[0][0], recent[1][0])
            self._halt.wait(self.pause)
        self._span[1] = time.monotonic()

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
