"""The faults: how each is drawn, injected, recognised as handled, and healed.

A plan entry is a kind plus parameters drawn from the seeded generator that do
not depend on the cluster's state (a role such as "active", a daemon, a path), so
a seed always gives the same plan; roles become nodes when the fault runs.

The run declares a fault recovered once the cluster has visibly dealt with it
(`reacted`: a fencing, a fail count, the group on the other node...), the group
is started on exactly one node as `view()` sees it, and every service answers
through the VIP.  Without `reacted` a fault that the monitors have not noticed
yet would count as recovered at once.
"""
import os
import signal
import threading
import time

from lab import arbiter, pair, storage, xcat
from lab.util import LabError, run

from . import cluster, invariants

ROLES = ("active", "passive")
SHARED_DIR = "/HA-data"
BACKUP_SUFFIX = ".xcatha-local"


class FaultError(RuntimeError):
    """The fault could not be injected (the run counts it as not recovered)."""


class Fault:
    kind = ""
    how = ""               # how it is injected and healed, for --list and the report
    heal_first = False     # nothing can recover before heal(): the clock starts there
    needs_storage = False  # runs only on the lab's failing storage (lab/storage.py)
    role = "active"        # default target
    expected = "active"    # where the group should end up: "active", "passive" or None
    bound = None           # seconds allowed for the recovery (None: the run's bound)
    per_engine = False     # draw(rng, engine): what it draws depends on the database engine

    def __init__(self, lab, active, params):
        self.lab = lab
        self.active = active
        self.passive = pair.other(lab, active)
        self.params = params
        self.target = self.node_for(params.get("role", self.role))
        self.injected_at = 0.0          # epoch seconds, set by the run
        self.notes = []
        self.healed = False

    @staticmethod
    def draw(rng):
        return {}

    def node_for(self, role):
        return self.active if role == "active" else self.passive

    def node(self, name=None):
        return self.lab.node(name or self.target)

    def describe(self):
        return ""

    def inject(self):
        raise NotImplementedError

    def view(self):
        """The node whose view of the cluster counts (None: the first running node)."""
        return self.active

    def reacted(self, root):
        return True

    def heal(self):
        """Undo what the fault left behind; idempotent."""
        self.healed = True

    def injecting(self):
        """Block while the fault is still being injected (e.g. a peer crashed again and
        again); True when the recovery clock starts afterwards, not at inject()."""
        return False

    def verify(self, evidence):
        """Problems (violations) found in what was recorded while the fault ran, once the
        pair is healthy again: evidence has "samples" (NodeWatch), "vip" (the VIP's
        transitions) and "events" (from pacemaker.log), each (time.time(), ...)."""
        return []

    def expected_on(self):
        return self.node_for(self.expected) if self.expected else None

    def during(self):
        """A heal_first fault's window; returns what must be reported as violations."""
        time.sleep(self.window)
        return []

    # helpers
    def fenced(self, name):
        return name in cluster.fenced_since(self.lab, self.injected_at, via=self.view())

    def exec(self, argv, name=None, timeout=60):
        result = self.node(name).exec(argv, timeout=timeout)
        if result.returncode != 0:
            raise FaultError("%s on %s: rc %d %s" % (" ".join(argv), name or self.target, result.returncode,
                                                    (result.stderr or result.stdout).strip()[-300:]))
        return result.stdout.strip()

    def main_pid(self, unit, name=None):
        """systemd's MainPID, else (an LSB script's unit, e.g. isc-dhcp-server) the first
        process of the unit's cgroup."""
        pid = self.exec(["systemctl", "show", "-p", "MainPID", "--value", unit], name)
        if pid in ("", "0"):
            group = self.exec(["systemctl", "show", "-p", "ControlGroup", "--value", unit], name)
            listed = self.node(name).exec(["sh", "-c", 'for top in unified systemd .; do '
                                           'cat "/sys/fs/cgroup/$top$1/cgroup.procs" 2>/dev/null && break; done',
                                           "sh", group]).stdout.split() if group else []
            pid = listed[0] if listed else ""
        if not pid:
            raise FaultError("%s is not running on %s" % (unit, name or self.target))
        return pid


# ---------------------------------------------------------------- nodes and the cluster stack
class CrashActive(Fault):
    kind = "crash-active"
    how = ("lab.crash: the active node's container is SIGKILLed and its link goes down; "
           "the vBMC powers it on when it is fenced")
    expected = "passive"

    def inject(self):
        self.lab.crash(self.target)

    def view(self):
        return pair.other(self.lab, self.target)

    def reacted(self, root):
        return self.fenced(self.target)


class CrashPassive(CrashActive):
    kind = "crash-passive"
    how = "lab.crash of the passive node; it must be fenced, the group must not move"
    role = "passive"
    expected = "active"


class KillCorosync(CrashActive):
    kind = "kill-corosync"
    how = "kill -9 of corosync's main pid inside a node (active or passive); the peer must fence it"

    @staticmethod
    def draw(rng):
        return {"role": rng.choice(ROLES)}

    def __init__(self, lab, active, params):
        super().__init__(lab, active, params)
        self.expected = "passive" if params["role"] == "active" else "active"

    def describe(self):
        return "corosync on the %s node" % self.params["role"]

    def inject(self):
        self.exec(["kill", "-KILL", self.main_pid("corosync.service")])


class KillDaemon(Fault):
    kind = "kill-pacemaker-daemon"
    how = ("kill -9 of pacemaker-execd or pacemaker-controld inside a node (active or passive); the node is "
           "fenced, or pacemakerd respawns the daemon and no fencing is decided within 20 s")
    expected = None
    DAEMONS = ("pacemaker-execd", "pacemaker-controld")
    QUIET = 20.0   # seconds without a fencing decision after which a respawn counts as the reaction

    @staticmethod
    def draw(rng):
        return {"role": rng.choice(ROLES), "daemon": rng.choice(KillDaemon.DAEMONS)}

    def describe(self):
        return "%s on the %s node" % (self.params["daemon"], self.params["role"])

    def pid(self):
        if not self.node().running:
            return None
        result = self.node().exec(["pidof", "-s", self.params["daemon"]], timeout=30)
        return result.stdout.strip() or None

    def inject(self):
        self.old_pid = self.pid()
        if not self.old_pid:
            raise FaultError("%s is not running on %s" % (self.params["daemon"], self.target))
        self.exec(["kill", "-KILL", self.old_pid])

    def view(self):
        return pair.other(self.lab, self.target)

    def reacted(self, root):
        """Fenced, or (no fencing decided) the daemon respawned and the node still in the
        cluster once the quiet period has passed: a fencing can follow the respawn by
        seconds (when the controller exits over the lost executor)."""
        if self.fenced(self.target):
            return True
        if self.target in cluster.fencing_requested_since(self.lab, self.injected_at):
            return False
        new_pid = self.pid()
        settled = (time.time() - self.injected_at > self.QUIET and bool(new_pid) and new_pid != self.old_pid
                   and root is not None and self.target in cluster.online(root))
        note = "respawned, not fenced: counted once %.0f s passed without a fencing" % self.QUIET
        if settled and note not in self.notes:
            self.notes.append(note)
        return settled


# ---------------------------------------------------------------- services
SERVICES = {  # service -> (resource, unit; a glob is resolved among the running units)
    "postgres": ("db", "postgresql@*"),
    "mariadb": ("db", "mariadb.service"),
    "xcatd": ("xcatd", "xcatd.service"),
    "named": ("named", "named.service"),
    "dhcpd": ("dhcpd", "isc-dhcp-server.service"),
    "conserver": ("conserver", "conserver-server.service"),
}


class KillService(Fault):
    kind = "kill-service"
    how = "kill -9 of the service's main process (systemd's MainPID) on the active node; restarted in place"

    def resource(self):
        return SERVICES[self.params["service"]][0]

    def unit(self):
        unit = SERVICES[self.params["service"]][1]
        if "*" not in unit:
            return unit
        listed = self.exec(["systemctl", "list-units", "--plain", "--no-legend", "--state=running", unit])
        if not listed:
            raise FaultError("no running unit %s on %s" % (unit, self.target))
        return listed.split()[0]

    def inject(self):
        unit = self.unit()
        pid = self.main_pid(unit)
        self.detail = "%s pid %s" % (unit, pid)
        self.exec(["kill", "-KILL", pid])

    def describe(self):
        return getattr(self, "detail", "")

    def reacted(self, root):
        return cluster.fail_count(root, self.resource()) > 0


DB_SERVICE = {"postgresql": "postgres", "mysql": "mariadb", "sqlite": None}   # SQLite: no server to kill


def kill_service_kinds(engine="postgresql"):
    servers = set(DB_SERVICE.values()) - {DB_SERVICE[engine]}
    return {"kill-" + service: (KillService, {"service": service}) for service in SERVICES if service not in servers}


# ---------------------------------------------------------------- the group's own state
class VipRemoved(Fault):
    kind = "vip-removed"
    how = "ip addr del of the VIP on the active node's eth0; the vip monitor must notice and the group restart"

    def inject(self):
        run(["ip", "-n", self.lab.cfg.node_netns(self.target), "addr", "del", self.lab.cfg.vip + "/24",
             "dev", "eth0"])

    def reacted(self, root):
        return cluster.fail_count(root, "vip") > 0


class LinkReplaced(Fault):
    kind = "link-replaced"
    how = ("on the active node one of xCAT's links (/install, /etc/xcat, /root/.xcat, /tftpboot) is removed "
           "and an empty directory made in its place; a member must notice (shared-data, or first the one "
           "reading through the link: db's monitor finds /etc/xcat/cfgloc missing); healed by removing that "
           "empty directory wherever it was left (in place or moved aside)")

    @staticmethod
    def draw(rng):
        return {"path": rng.choice(xcat.XCAT_DIRS)}

    def describe(self):
        return self.params["path"]

    def inject(self):
        path = self.params["path"]
        self.had_backup = self.node().exec(["test", "-e", path + BACKUP_SUFFIX]).returncode == 0
        self.exec(["sh", "-c", 'test -L "$1" && rm "$1" && mkdir "$1"', "sh", path])

    def reacted(self, root):
        # whichever monitor runs first: shared-data's (a link replaced) or, for /etc/xcat, db's
        # (cfgloc missing) — seen in make faults on MariaDB, seed 1130: db failed, the group moved
        return any(cluster.fail_count(root, member) > 0 for member in pair.MEMBERS)

    def heal(self):
        """Remove the directory made by inject, where the agents left it: still in
        place (not a link), or moved aside to <path>.xcatha-local by a start."""
        if self.healed or not self.node().running:
            return
        path = self.params["path"]
        candidates = [path] + ([] if self.had_backup else [path + BACKUP_SUFFIX])
        for candidate in candidates:
            self.node().exec(["sh", "-c", 'test -d "$1" && ! test -L "$1" && rmdir "$1" && echo removed',
                              "sh", candidate])
        self.healed = True


class SharedUnreadable(Fault):
    kind = "shared-unreadable"
    how = ("chmod 000 /HA-data inside the active node (the shared directory: both nodes see it) for a window "
           "of several monitors, then its mode is restored from the host; recovery is counted from the restore. "
           "Root's DAC override keeps the daemons (and the agents) reading through the mode, so what this proves "
           "is narrower: no agent mistakes it for a failure worth a restart, a move or fencing")
    heal_first = True
    window = 45.0

    def describe(self):
        return "%s for %.0f s" % (SHARED_DIR, self.window)

    def inject(self):
        self.mode = int(self.exec(["stat", "-c", "%a", SHARED_DIR]), 8)
        self.exec(["chmod", "000", SHARED_DIR])

    def heal(self):
        if not self.healed and hasattr(self, "mode"):
            os.chmod(self.lab.cfg.shared_data, self.mode)   # the host's side of the bind mount
        self.healed = True


class Split(Fault):
    kind = "split"
    how = ("a blackhole route to the peer's address in each node's netns (corosync/knet, pcsd: all traffic "
           "between the nodes; the client and the BMCs stay reachable); fencing must leave one node (with "
           "--arbiter: the one that ran the group); healed by removing the routes after recovery")
    expected = None

    def __init__(self, lab, active, params):
        super().__init__(lab, active, params)
        self.loser = None
        if arbiter.running(lab):
            self.expected = "active"   # the arbiter's vote goes to the side holding the VIP

    def describe(self):
        return "between %s and %s" % self.lab.cfg.node_names

    def routes(self, verb):
        for name in self.lab.cfg.node_names:
            peer = pair.other(self.lab, name)
            run(["ip", "-n", self.lab.cfg.node_netns(name), "route", verb, "blackhole",
                 self.lab.cfg.node_ip(peer) + "/32"], check=(verb == "add"))

    def inject(self):
        self.routes("add")

    def view(self):
        """Before the fencing each side has its own view; afterwards the survivor's counts."""
        if not self.loser:
            fenced = cluster.fenced_since(self.lab, self.injected_at)
            if fenced:
                self.loser = fenced[0]
        return pair.other(self.lab, self.loser) if self.loser else None

    def reacted(self, root):
        return bool(self.loser)

    def heal(self):
        if not self.healed:
            self.routes("del")
        self.healed = True


# ---------------------------------------------------------------- administrative
class Standby(Fault):
    kind = "standby"
    how = "pcs node standby <active node>, the group must move; pcs node unstandby after recovery"
    expected = "passive"

    def inject(self):
        self.exec(["pcs", "node", "standby", self.target], name=self.passive, timeout=120)

    def view(self):
        return self.passive

    def reacted(self, root):
        return cluster.group_on(root) == self.passive

    def heal(self):
        if not self.healed:
            pair.any_running_node(self.lab).exec(["pcs", "node", "unstandby", self.target], timeout=120)
        self.healed = True


class PlannedMove(Fault):
    kind = "planned-move"
    how = ("a planned move to the passive node while the monitors run, as pair.planned_move does it: "
           "pcs resource move --wait (in a thread, so that it is measured like every other fault), "
           "then pcs resource clear")
    expected = "passive"
    WAIT = 180

    def __init__(self, lab, active, params):
        super().__init__(lab, active, params)
        self.target = self.passive
        self.mover = None
        self.result = None

    def inject(self):
        self.mover = threading.Thread(target=self.move, name="planned-move")
        self.mover.start()

    def move(self):
        try:
            self.result = self.node(self.active).exec(["pcs", "resource", "move", pair.GROUP, self.target,
                                                       "--wait=%d" % self.WAIT], timeout=self.WAIT + 30)
        except LabError as error:
            self.notes.append("pcs resource move: %s" % error)

    def view(self):
        return self.target

    def reacted(self, root):
        return cluster.group_on(root) == self.target

    def heal(self):
        if self.healed:
            return
        if self.mover:
            self.mover.join(self.WAIT + 60)
        if self.result is not None and self.result.returncode != 0:
            self.notes.append("pcs resource move: rc %d %s" % (self.result.returncode,
                                                                self.result.stderr.strip()[-200:]))
        pair.any_running_node(self.lab).exec(["pcs", "resource", "clear", pair.GROUP], timeout=60)
        self.healed = True


# ---------------------------------------------------------------- a hung node, a fault during failover, flapping
class FreezeActive(Fault):
    kind = "freeze-active"
    how = ("every process of the active node frozen at once (cgroup v2 freezer of its container: "
           "cgroup.freeze) for longer than corosync's token timeout, then thawed if still alive (it is usually "
           "fenced first: the vBMC's power off kills frozen processes); the peer must take the VIP only after "
           "the frozen node is powered off, and nothing of the frozen node may serve again afterwards")
    expected = "passive"
    POLL = 0.1

    @staticmethod
    def draw(rng):
        return {"seconds": round(rng.uniform(10, 30), 1)}

    def __init__(self, lab, active, params):
        super().__init__(lab, active, params)
        self.payload = invariants.payload_cgroup(lab.cfg, self.target)
        self.init = None
        self.frozen_at = None
        self.down_at = None          # time.time() when the frozen node's init was gone (powered off)
        self.thawed_at = None
        self.watcher = None
        self._stop = threading.Event()

    def describe(self):
        return "frozen for up to %.0f s" % self.params["seconds"]

    def token_ms(self):
        found = {}
        for key in ("token", "consensus"):
            out = self.exec(["corosync-cmapctl", "-g", "runtime.config.totem." + key])
            found[key] = int(out.rsplit("=", 1)[1])
        return found

    def inject(self):
        timings = self.token_ms()
        if self.params["seconds"] * 1000 <= timings["token"] + timings["consensus"]:
            self.notes.append("window %.0f s is not longer than token + consensus (%d + %d ms)"
                              % (self.params["seconds"], timings["token"], timings["consensus"]))
        self.init = invariants.init_pid(self.payload)
        if self.init is None:
            raise FaultError("%s is not running" % self.target)
        self.write_freeze("1")
        self.frozen_at = time.time()
        end = time.monotonic() + 10
        while "frozen 1" not in (self.payload / "cgroup.events").read_text():
            if time.monotonic() > end:
                raise FaultError("%s did not freeze within 10 s" % self.target)
            time.sleep(0.05)
        self.notes.append("frozen in %.2f s (token %d ms, consensus %d ms)"
                          % (time.time() - self.frozen_at, timings["token"], timings["consensus"]))
        self.watcher = threading.Thread(target=self.watch, name="freeze-watch", daemon=True)
        self.watcher.start()

    def write_freeze(self, value):
        try:
            (self.payload / "cgroup.freeze").write_text(value + "\n")
        except FileNotFoundError:  # the container's cgroup is gone with the container
            pass

    def watch(self):
        """Thaw as soon as the node is powered off (its next boot would start frozen in the
        same cgroup: the vBMC boots it a few seconds later), or at the end of the window."""
        while not self._stop.is_set():
            if invariants.init_pid(self.payload) != self.init:
                self.down_at = time.time()
                frozen = self.thawed_at is None
                self.thaw()
                self.notes.append("powered off %.1f s after the freeze%s" % (
                    self.down_at - self.frozen_at, " (while frozen)" if frozen else ", after the thaw"))
                return
            if self.thawed_at is None and time.time() - self.frozen_at >= self.params["seconds"]:
                self.thaw()
                self.notes.append("thawed after %.0f s, still alive" % (self.thawed_at - self.frozen_at))
            self._stop.wait(self.POLL)

    def thaw(self):
        if self.thawed_at is None:
            self.write_freeze("0")
            self.thawed_at = time.time()

    def view(self):
        return self.passive

    def fenced(self, name):
        # only the peer: a command asking the frozen node's daemons would hang until its timeout
        return name in cluster.fenced_since(self.lab, self.injected_at, ask=[self.passive])

    def reacted(self, root):
        return self.fenced(self.target)

    def heal(self):
        self._stop.set()
        if self.watcher:
            self.watcher.join(5)
        self.thaw()
        self.healed = True

    def verify(self, evidence):
        taken = [t for t, node, held in evidence["vip"] if node == self.passive and held and t >= self.injected_at]
        if taken and self.down_at:
            self.notes.append("%s took the VIP %.1f s after %s was powered off" % (
                self.passive, taken[0] - self.down_at, self.target))
        return freeze_problems(self.target, self.passive, self.injected_at, self.down_at, evidence)


def freeze_problems(frozen, peer, injected_at, down_at, evidence):
    """What freeze-active requires, checked on the recorded evidence: the peer took the VIP
    only once the frozen node was powered off (down_at), and afterwards nothing the frozen
    node served before the freeze (its VIP, its database server, xcatd, links) was seen again."""
    if down_at is None:
        return ["the frozen node %s was never powered off" % frozen]
    problems = []
    taken = [t for t, node, held in evidence["vip"] if node == peer and held and t >= injected_at]
    if taken and taken[0] < down_at:
        problems.append("%s took the VIP %.1f s before the frozen %s was powered off"
                        % (peer, down_at - taken[0], frozen))
    takeover = taken[0] if taken else down_at
    again = [t for t, node, held in evidence["vip"] if node == frozen and held and t > takeover]
    if again:
        problems.append("the frozen node %s held the VIP again %.1f s after the takeover"
                        % (frozen, again[0] - takeover))
    mine = [state for t, node, state in evidence["samples"] if node == frozen and t < injected_at]
    before = mine[-1] if mine and mine[-1] else {}
    for stamp, node, state in evidence["samples"]:
        if node != frozen or stamp <= takeover or not state:
            continue
        for attribute, identities in before.items():
            if identities & state.get(attribute, frozenset()):
                problems.append("the frozen node's %s served again %.1f s after the takeover"
                                % (invariants.describe(attribute), stamp - takeover))
                return problems
    return problems


class FaultDuringFailover(Fault):
    kind = "fault-during-failover"
    how = ("lab.crash of the active node, then a second fault drawn while the group is starting on the "
           "survivor, the moment one of its members appears there (the VIP, the database server on the "
           "shared data, xcatd): the database server or xcatd killed (-9) mid-start, the survivor's corosync "
           "restarted (systemctl restart corosync: its Pacemaker goes with it), or the survivor crashed too "
           "(booted again after 10 s, as a node that panics does: nobody fences an only survivor); the pair "
           "must converge on exactly one MN without losing a committed row. After a kill mid-start the crashed "
           "node stays dead (its vBMC powers it off but never on: a board that died) until the recovery is "
           "judged: the survivor alone must become the MN")
    expected = None
    bound = 180.0
    SECONDS = {"kill-db": "db", "kill-xcatd": "xcatd", "restart-corosync": None, "crash-survivor": None}
    STAGES = ("vip", "db", "xcatd")
    WAIT = 150.0
    REBOOT_AFTER = 10.0
    # the second faults the survivor must get over alone: a box that died of a hardware fault
    # does not come back to take the group (crash-survivor leaves no quorum without the peer,
    # two_node's wait_for_all: that one needs the crashed node, or an arbiter)
    STAYS_DEAD = ("kill-db", "kill-xcatd")

    per_engine = True

    @staticmethod
    def draw(rng, engine="postgresql"):
        cls = FaultDuringFailover
        # SQLite has no server process: nothing to kill mid-start, nothing that shows db starting
        # (the second fault waited for one in vain: SQLite run of seed 1203, fault 12)
        seconds = sorted(s for s in cls.SECONDS if engine != "sqlite" or s != "kill-db")
        stages = tuple(s for s in cls.STAGES if engine != "sqlite" or s != "db")
        second = rng.choice(seconds)
        return {"second": second, "stage": cls.SECONDS[second] or rng.choice(stages)}

    def __init__(self, lab, active, params):
        super().__init__(lab, active, params)
        self.survivor = self.passive
        self.second_at = None
        self.error = None
        self.thread = None
        self._stop = threading.Event()

    def describe(self):
        return "crash, then %s on %s once its %s started" % (self.params["second"], self.survivor,
                                                              self.params["stage"])

    def inject(self):
        if self.params["second"] in self.STAYS_DEAD:
            self.node().dead_flag.touch()
            self.notes.append("%s stays dead until the recovery is judged" % self.target)
        self.lab.crash(self.target)
        self.thread = threading.Thread(target=self.second, name="second-fault", daemon=True)
        self.thread.start()

    def started_here(self, payload):
        """Host pids of the stage's member on the survivor ([] while not started; the
        VIP has none: [0])."""
        stage = self.params["stage"]
        if stage == "vip":
            result = run(["ip", "-n", self.lab.cfg.node_netns(self.survivor), "-o", "-4", "addr", "show"],
                         check=False, quiet=True)
            return [0] if " %s/" % self.lab.cfg.vip in result.stdout else []
        if stage == "db":
            return invariants.db_pids(payload)
        return invariants.xcatd_pids(payload)

    def second(self):
        payload = invariants.payload_cgroup(self.lab.cfg, self.survivor)
        end = time.monotonic() + self.WAIT
        while not self._stop.is_set() and time.monotonic() < end:
            pids = self.started_here(payload)
            if pids:
                try:
                    self.strike(pids)
                except (LabError, OSError) as error:
                    self.error = "second fault %s failed: %s" % (self.params["second"], error)
                return
            time.sleep(0.05)
        self.error = "the group did not begin to start on %s within %.0f s" % (self.survivor, self.WAIT)

    def strike(self, pids):
        second = self.params["second"]
        stamp = time.time()
        if second in ("kill-db", "kill-xcatd"):
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            detail = "pid(s) %s" % " ".join(map(str, pids))
        elif second == "restart-corosync":
            result = self.node(self.survivor).exec(["systemctl", "--no-block", "restart", "corosync.service"])
            if result.returncode != 0:
                raise LabError("systemctl restart corosync: %s" % result.stderr.strip())
            detail = ""
        else:
            self.lab.crash(self.survivor)
            detail = "booted again after %.0f s" % self.REBOOT_AFTER
        self.second_at = stamp
        self.notes.append("%s at +%.1f s %s" % (second, stamp - self.injected_at, detail))
        if second == "crash-survivor" and not self._stop.wait(self.REBOOT_AFTER):
            self.lab.boot(self.survivor, wait=False)

    def view(self):
        return self.survivor if self.lab.node(self.survivor).running else self.target

    def reacted(self, root):
        if self.error:
            raise FaultError(self.error)
        # from the logs: a crash of the only survivor takes the fencers' memory with it
        return self.second_at is not None and self.target in cluster.fenced_in_logs(self.lab, self.injected_at)

    def heal(self):
        self._stop.set()
        if self.thread:
            self.thread.join(30)
        # the box is repaired: the run powers it on (Runner.power_on_left_off)
        self.node().dead_flag.unlink(missing_ok=True)
        self.healed = True


class FlappingPeer(Fault):
    kind = "flapping-peer"
    how = ("lab.crash of the passive node, and again as soon as it has rejoined (online in the active's view, "
           "then a drawn delay of 0-3 s: its probes may be running), 2 or 3 times; the recovery is counted from "
           "the last crash. The active must not move or restart anything: no start or stop of a member on it "
           "in pacemaker.log, the same main pids and start times of its services (systemd), the VIP never off it")
    role = "passive"
    expected = "active"
    REJOIN = 180.0
    UNITS = ("postgresql@15-main.service", "mariadb.service", "xcatd.service", "named.service",
             "isc-dhcp-server.service", "kea-dhcp4-server.service", "conserver-server.service",
             "goconserver.service", "apache2.service", "tftpd-hpa.service")

    @staticmethod
    def draw(rng):
        times = rng.randint(2, 3)
        return {"times": times, "delays": [rng.choice((0.0, 1.0, 3.0)) for _ in range(times - 1)]}

    def __init__(self, lab, active, params):
        super().__init__(lab, active, params)
        self.crashes = []
        self.before = {}
        self.powered_on = 0  # the crashes after which the lab, not fencing, powered it on

    def describe(self):
        return "%d crashes, again %s s after each rejoin" % (
            self.params["times"], "/".join("%g" % d for d in self.params["delays"]))

    def services(self):
        """{unit: (MainPID, ActiveEnterTimestampMonotonic)} of the active's running services."""
        out = self.exec(["systemctl", "show", "-p", "Id,ActiveState,MainPID,ActiveEnterTimestampMonotonic"]
                        + list(self.UNITS), name=self.active)
        return running_units(out)

    def inject(self):
        self.before = self.services()
        self.crash()

    def crash(self):
        self.lab.crash(self.target)
        self.crashes.append(time.time())

    def rejoined(self):
        """Back after its last crash and online again in the active's view.  Back: fenced since
        that crash (until then the active may still list it online) or, crashed before its join
        had completed, seen down cleanly: Pacemaker rightly fences nothing then, so nothing
        powers it on but the lab, as a node that panics reboots (seen here, 2026-11-30)."""
        root = cluster.status(self.lab, self.active)
        if root is None:
            return False
        if self.powered_on < len(self.crashes) and not self.fenced_after_crash():
            if not (cluster.down_clean(root, self.target) and not self.lab.node(self.target).running):
                return False
            self.notes.append("crash %d: lost before its join completed, not fenced; powered on by the lab"
                              % len(self.crashes))
            self.lab.boot(self.target, wait=False)
            self.powered_on = len(self.crashes)
            return False
        return self.target in cluster.online(root)

    def fenced_after_crash(self):
        return self.target in cluster.fenced_since(self.lab, self.crashes[-1], via=self.active)

    def injecting(self):
        for delay in self.params["delays"]:
            end = time.monotonic() + self.REJOIN
            while not self.rejoined():
                if time.monotonic() > end:
                    raise FaultError("%s was not fenced and online again within %.0f s after crash %d"
                                     % (self.target, self.REJOIN, len(self.crashes)))
                time.sleep(0.5)
            time.sleep(delay)
            self.crash()
        self.notes.append("crashed at +%s s" % ", +".join("%.0f" % (t - self.injected_at) for t in self.crashes))
        return True

    def view(self):
        return self.active

    def reacted(self, root):
        """Fenced after the last crash, or seen down cleanly: crashed before its join had
        completed ("online" in crm_mon already), it was never a member given anything, and
        Pacemaker rightly does not fence it (seen in CI's run, 2026-11-29)."""
        if self.fenced_after_crash():
            return True
        if cluster.down_clean(root, self.target):
            if "lost before its join completed: not fenced (nothing to fence)" not in self.notes:
                self.notes.append("lost before its join completed: not fenced (nothing to fence)")
            return True
        return False

    def verify(self, evidence):
        return flapping_problems(self.active, self.before, self.services(), self.injected_at, evidence)


def flapping_problems(active, before, after, injected_at, evidence):
    """What flapping-peer requires of the active node: no start or stop of a member on it
    (pacemaker.log), its services' main pids and start times unchanged (systemd), the VIP
    never off it."""
    problems = []
    moved = [event for _, event in evidence["events"]
             if any(event.startswith("%s %s on %s:" % (member, verb, active))
                    for member in pair.MEMBERS for verb in ("start", "stop"))]
    if moved:
        problems.append("the active %s started or stopped members: %s" % (active, "; ".join(moved[:5])))
    changed = sorted(unit for unit in before if after.get(unit) != before[unit])
    if changed:
        problems.append("services restarted on the active %s: %s" % (
            active, ", ".join("%s %s -> %s" % (unit, before[unit], after.get(unit)) for unit in changed)))
    lost = [t for t, node, held in evidence["vip"] if node == active and not held and t >= injected_at]
    if lost:
        problems.append("the VIP left the active %s at +%.1f s" % (active, lost[0] - injected_at))
    return problems


def running_units(text):
    """`systemctl show -p Id,ActiveState,MainPID,ActiveEnterTimestampMonotonic` of several
    units -> {unit: (MainPID, ActiveEnterTimestampMonotonic)} of the active ones."""
    found = {}
    for block in text.strip().split("\n\n"):
        fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if fields.get("ActiveState") == "active":
            found[fields["Id"]] = (fields.get("MainPID"), fields.get("ActiveEnterTimestampMonotonic"))
    return found

# ---------------------------------------------------------------- the shared storage (lab/storage.py)
AGENT_DIR = "/usr/lib/ocf/resource.d/xcat/"
# shared-data's depth-10 monitor runs every 120 s with a 40 s timeout: a hang is noticed within
# that (plus the executor's scheduling); the longest action of the group's agents takes 120 s.
NOTICE_BOUND = 120 + 40 + 10
LONGEST_ACTION = 120


class StorageFault(Fault):
    """The shared data's storage fails for a window; the cluster must notice it (the depth-10
    probe, within its bound) and move the group or fence the node, while no agent action
    outlives its timeout; then the storage returns, and recovery is counted from there."""
    needs_storage = True
    heal_first = True
    expected = None
    window = NOTICE_BOUND + 60

    def describe(self):
        return "for %.0f s" % self.window

    def noticed(self):
        """How the cluster showed that it noticed, or None."""
        root = cluster.status(self.lab, self.passive) or cluster.status(self.lab, self.active)
        if self.fenced(self.active):
            return "%s fenced" % self.active
        failed = [f for f in cluster.failures(root) if f.split()[0] in pair.MEMBERS]
        if failed:
            return failed[0]
        where = cluster.group_on(root)
        if root is not None and where and where != self.active:
            return "group moved to %s" % where
        return None

    unnoticed = "the storage fault went unnoticed for %.0f s (bound %d s)"

    def before_window(self):
        """Problems found as the window opens."""
        return []

    # None: the window lasts its whole length; else it ends this long after the fault was noticed
    after_notice = None

    def during(self):
        problems, seen = self.before_window(), None
        start = time.monotonic()
        end = start + self.window
        while time.monotonic() < end:
            if seen is None:
                how = self.noticed()
                if how:
                    seen = time.time() - self.injected_at
                    self.notes.append("noticed after %.0f s: %s" % (seen, how[:200]))
                    if self.after_notice is not None:
                        end = min(end, time.monotonic() + self.after_notice)
            problems += [p for p in self.overdue_actions() if p not in problems]
            time.sleep(3)
        self.window = time.monotonic() - start   # what the report says: the window it had
        if seen is None:
            problems.append(self.unnoticed % (self.window, NOTICE_BOUND))
        elif seen > NOTICE_BOUND:
            problems.append("noticed only after %.0f s (bound %d s)" % (seen, NOTICE_BOUND))
        return problems

    def overdue_actions(self):
        """Agent actions (the agents' own processes, not children they abandoned) running longer
        than the longest action timeout, on either node."""
        overdue = []
        for name in self.lab.cfg.node_names:
            node = self.lab.node(name)
            if not node.running:
                continue
            try:
                out = node.exec(["ps", "-eo", "pid=,etimes=,stat=,args="], timeout=20).stdout
            except LabError:
                continue
            for line in out.splitlines():
                fields = line.split(None, 3)
                # the agent itself (children it abandoned run other programs)
                if len(fields) == 4 and AGENT_DIR in fields[3] and int(fields[1]) > LONGEST_ACTION + 15:
                    overdue.append("on %s an agent action outlives its timeout: %s (%s s, state %s)"
                                   % (name, fields[3][:100], fields[1], fields[2]))
        return overdue


class StorageHang(StorageFault):
    kind = "storage-hang"
    how = ("the shared data's FUSE server (lab/storage.py: ext4 on a loop device, served by bindfs) is "
           "SIGSTOPped: every access to /HA-data hangs in D state on both nodes, as on a hard NFS mount whose "
           "server froze; SIGCONT after the window")
    cut, restore = staticmethod(storage.freeze), staticmethod(storage.thaw)

    def inject(self):
        self.cut_result = self.cut(self.lab.cfg)   # the servers' pids (fill: the bytes taken)
        if not self.cut_result:
            raise FaultError("no storage server (is the lab's shared_storage fuse?)")

    def heal(self):
        if not self.healed:
            self.restore(self.lab.cfg)
            self.clean_up_if_stopped()
        self.healed = True

    def clean_up_if_stopped(self, settle=20):
        """While the storage was out the group's start failed wherever it was tried, which keeps it
        from starting there until failure-timeout: once the storage is back, an admin runs
        `pcs resource cleanup` for it, and so does this (noted in the report)."""
        time.sleep(settle)
        root = cluster.status(self.lab)
        if root is None or cluster.group_on(root):
            return
        failed = [f for f in cluster.failures(root) if " start on " in f]
        if failed:
            self.notes.append("the group ran nowhere once the storage was back (%s): pcs resource cleanup, as an "
                              "admin does" % "; ".join(failed)[:300])
            pair.any_running_node(self.lab).exec(["pcs", "resource", "cleanup"], timeout=120)


class StorageGone(StorageHang):
    kind = "storage-gone"
    how = ("the shared data's FUSE server is killed: every access to /HA-data fails (ENOTCONN) on both nodes, "
           "as on a dead soft mount; after the window a new server is mounted on top, which the nodes see at "
           "once, as a remounted export")
    cut, restore = staticmethod(storage.kill), staticmethod(storage.serve)


class SharedFull(StorageHang):
    kind = "shared-full"
    how = ("the shared filesystem is filled up (fallocate of every free block, from the host): the database must "
           "refuse writes, a monitor must say the filesystem is full, nothing may be corrupted; the space is freed "
           "30 s after a monitor said so (at the latest when the window ends)")
    window = NOTICE_BOUND + 20
    # Once a monitor said it: a full filesystem neither hangs nor kills an action (no action can
    # outlive its timeout as on hung storage), and what remains to prove is the way back when
    # space is freed (MariaDB's start waits for it).  30 s: a failed monitor's stops and the
    # start that then waits for space are under way.
    after_notice = 30
    FULL_WORDS = ("No space left", "is full", "ENOSPC")
    # each engine's refusal: PostgreSQL "could not extend file ...: No space left on device",
    # MariaDB "The table 'fault_rows' is full" (or its error 28), SQLite "database or disk is full"
    REFUSED_WORDS = FULL_WORDS + ("error 28", "disk is full")
    cut, restore = staticmethod(storage.fill), staticmethod(storage.unfill)

    def clean_up_if_stopped(self, settle=0):
        """A full filesystem must not have stopped the group: no cleanup."""

    def describe(self):
        return "%d MB taken, freed %d s after a monitor said so (at most %.0f s)" % (
            getattr(self, "cut_result", 0) // 2 ** 20, self.after_notice, self.window)

    unnoticed = "no monitor said that the shared filesystem is full within %.0f s (bound %d s)"

    # A write that needs new blocks (a row fits in a page the table already has): about 2 MB that
    # compresses badly, in each engine's SQL.
    BIG_VALUE = {"postgresql": "(SELECT string_agg(md5(g::text), '') FROM generate_series(1, 64000) g)",
                 "mysql": "(SELECT REPEAT(MD5(RAND()), 64000))",   # InnoDB stores it as it is
                 "sqlite": "hex(randomblob(1000000))"}

    def before_window(self):
        """The database must refuse a write that needs space (and say so); the rows committed
        before stay (the run checks them after recovery)."""
        wrote = pair.sql(self.lab, "INSERT INTO fault_rows (id, kind) VALUES (%d, %s)"
                         % (100000 + int(self.injected_at) % 100000, self.BIG_VALUE[pair.engine_of(self.lab)]))
        said = (wrote.stderr or wrote.stdout).strip()[-200:]
        self.notes.append("a 2 MB write while full: %s" % ("accepted" if wrote.returncode == 0 else "refused: " + said))
        if wrote.returncode == 0:
            return ["the database accepted a 2 MB write on a full filesystem"]
        if any(word in said for word in self.REFUSED_WORDS):
            return []
        aborted = self.aborted_for_space() if pair.engine_of(self.lab) == "mysql" else None
        if aborted:
            self.notes.append("MariaDB aborted on the full filesystem, as it does (its restarts abort too until "
                              "space is freed): %s" % aborted)
            return []
        return ["the 2 MB write was refused, but not for the full filesystem: %s" % said]

    # MariaDB 10.11 does not refuse such a write: it aborts ("[FATAL] InnoDB: Error (Out of disk
    # space) in rollback", signal 6) and the client loses its connection; its own log says why.
    ABORT_WORDS = ("Out of disk space", "failed with error 28")

    def aborted_for_space(self):
        """MariaDB's line on the active node saying it aborted for lack of space, or None."""
        said = self.lab.node(self.active).exec(
            ["journalctl", "-q", "-o", "cat", "--no-pager", "-u", "mariadb.service", "--since",
             "@%d" % int(self.injected_at)], timeout=30).stdout
        lines = [line for line in said.splitlines() if "FATAL" in line and any(w in line for w in self.ABORT_WORDS)]
        return lines[0].strip()[:200] if lines else None

    def noticed(self):
        """A monitor's result with the reason, in either node's pacemaker.log (a degraded result
        is no failure: crm_mon does not list it); or a start's: MariaDB aborts on the full
        filesystem (its unit's exit hook reports that at once, without a reason), and db's start,
        which cannot bring it back, says in the log that it waits for space, and why in `pcs
        status` if none comes."""
        for name in self.lab.cfg.node_names:
            for line in cluster.log_lines(self.lab, name, self.injected_at):
                if (("Result of monitor operation" in line or "Result of start operation" in line)
                        and any(word in line for word in self.FULL_WORDS)):
                    return line.split("Result of ", 1)[1]
                if line.startswith("db(") and "waiting for space" in line and "is full" in line:
                    return "db's start: " + line.split("WARNING: ", 1)[-1]
        return None


# ---------------------------------------------------------------- the catalogue and the plan
def catalogue(engine="postgresql"):
    """kind -> (class, fixed parameters), in a stable order: what can be done to a pair
    whose xCAT database is in `engine`."""
    kinds = {}
    for cls in (CrashActive, CrashPassive, KillCorosync, KillDaemon):
        kinds[cls.kind] = (cls, {})
    kinds.update(kill_service_kinds(engine))
    for cls in (VipRemoved, LinkReplaced, SharedUnreadable, Split, Standby, PlannedMove, FreezeActive,
                FaultDuringFailover, FlappingPeer, StorageHang, StorageGone, SharedFull):
        kinds[cls.kind] = (cls, {})
    return kinds


def needs_storage(plan, engine="postgresql"):
    """True when a fault of the plan needs the lab's failing storage (lab/storage.py)."""
    catalog = catalogue(engine)
    return any(catalog[entry["kind"]][0].needs_storage for entry in plan)


def draw_plan(rng, count, kinds=None, engine="postgresql"):
    """`count` plan entries: rounds of every kind in a shuffled order (a deck of
    cards), so that a run of at least one round covers every kind."""
    catalog = catalogue(engine)
    names = list(kinds or catalog)
    unknown = [n for n in names if n not in catalog]
    if unknown:
        raise ValueError("unknown fault kind(s) for %s: %s (known: %s)" % (engine, ", ".join(unknown),
                                                                           ", ".join(catalog)))
    plan = []
    while len(plan) < count:
        deck = list(names)
        rng.shuffle(deck)
        for name in deck[:count - len(plan)]:
            cls, fixed = catalog[name]
            plan.append(dict({"kind": name}, **fixed, **(cls.draw(rng, engine) if cls.per_engine else cls.draw(rng))))
    return plan


def make(lab, active, entry, engine="postgresql"):
    cls, _ = catalogue(engine)[entry["kind"]]
    return cls(lab, active, entry)
