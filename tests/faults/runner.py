"""The fault run: the plan from the seed, each fault injected and watched until the
pair recovers, the invariants, the way back to a healthy pair, and the report."""
import concurrent.futures
import hashlib
import json
import random
import time
from pathlib import Path

from lab import arbiter, frozen, pair
from lab.config import LabConfig
from lab.util import LabError, log

from . import cluster, kinds
from .invariants import NodeWatch, Violations, VipWatch, describe, overlaps

BOUND = 120.0           # fault injected (or healed) -> group started on one node, every service answers
HEALTHY_BOUND = 300.0   # -> both nodes online, every resource running, failures cleaned up
TABLE = "fault_rows"
WORKDIR = Path("/var/lib/xcatha-lab-faults")


def new_lab(default=False, **settings):
    """The fault lab: prefix xhf, 192.168.75.0/24, next to the default lab; or (default) the
    default lab itself (xha: the cluster tests' and make demo's)."""
    if default:
        return pair.prepare(LabConfig(**settings))
    return frozen.new_lab("xhf", "192.168.75", WORKDIR, **settings)


BASELINE_BOUND = 60   # s: every service answers through the VIP once the pair is healthy


class Run:
    def __init__(self, lab, seed, count, kind_names=None, bound=BOUND, say=print, engine="postgresql", part=None):
        self.lab = lab
        # (first, last): only these faults of the plan, numbered and drawn as in the whole plan,
        # for a soak longer than one sitting (each part on a fresh lab)
        self.part = part
        self.seed = seed
        self.bound = bound
        self.say = say
        self.engine = engine
        self.kind_names = kind_names
        self.plan = kinds.draw_plan(random.Random(seed), count, kind_names, engine)
        self.violations = Violations(say)
        self.records = []
        self.committed = set()       # ids of rows committed to xcatdb
        self.probes = dict(pair.PROBES)
        if engine == "sqlite":   # no database server to ask through the VIP: xCAT's probe reads the tables
            del self.probes["sql"]
        self.watch = None
        self.nodes = None
        self.aborted = None
        self.blocked_seen = set()     # (fault number, resource) already reported
        self.silent = []              # the probes that last gave no answer through the VIP

    # ------------------------------------------------------------ the run
    def execute(self):
        self.watch = VipWatch(self.lab, self.violations)
        self.watch.start()
        self.nodes = NodeWatch(self.lab)
        self.nodes.start()
        try:
            self.prepare()
            for number, entry in self.planned():
                self.violations.context = "fault %d (%s)" % (number, entry["kind"])
                record = self.run_one(number, entry)
                self.records.append(record)
                self.say("[%d/%d] %s" % (number, len(self.plan), line_of(record)))
                if not record["healthy_after"]:
                    self.aborted = "the pair did not become healthy again after fault %d" % number
                    self.violations.add(self.aborted + "; run stopped")
                    break
        finally:
            self.watch.stop()
            self.nodes.stop()
        return self.summary()

    def digest(self):
        """A short digest of the whole plan: every part of a soak must show the same one (the
        draws follow the catalogue, which the code may change between parts)."""
        return hashlib.sha256(json.dumps(self.plan, sort_keys=True).encode()).hexdigest()[:12]

    def planned(self):
        """(number, entry) of the faults this run executes."""
        first, last = self.part or (1, len(self.plan))
        return [(number, entry) for number, entry in enumerate(self.plan, 1) if first <= number <= last]

    def prepare(self):
        pair.wait_healthy(self.lab, timeout=HEALTHY_BOUND)
        # every service answers before the first fault: a probe silent after a fault must be the
        # fault's doing, not the build's
        since = time.time()
        answers = self.first_answers(time.monotonic(), BASELINE_BOUND)
        self.silent = sorted(name for name, seconds in answers.items() if seconds is None)
        if self.silent:
            found = self.diagnostics(since - 120)
            raise RuntimeError("before any fault, the healthy pair gave no answer through the VIP from %s within "
                               "%d s\n%s" % (", ".join(self.silent), BASELINE_BOUND,
                                             "\n".join("## %s\n%s" % item for item in found.items())))
        # SQL every engine takes (PostgreSQL, MariaDB, SQLite); MariaDB's `text` holds 64 KB, and
        # shared-full writes 2 MB (refused for its size, not for the full filesystem, before)
        kind = "longtext" if pair.engine_of(self.lab) == "mysql" else "text"
        created = pair.sql(self.lab, "DROP TABLE IF EXISTS %s; CREATE TABLE %s (id integer PRIMARY KEY, kind %s NOT "
                                     "NULL, at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP)" % (TABLE, TABLE, kind))
        if created.returncode != 0:
            raise RuntimeError("cannot create %s in xcatdb: %s" % (TABLE, created.stderr.strip()))

    def run_one(self, number, entry):
        active = pair.active_node(self.lab)
        fault = kinds.make(self.lab, active, entry, self.engine)
        bound = fault.bound or self.bound
        record = {"n": number, "kind": entry["kind"], "target": fault.target, "detail": "", "active": active,
                  "recovery_s": None, "bound_s": bound, "where": None, "outcome": "", "notes": fault.notes,
                  "events": [], "diagnostics": {}, "healthy_after": False}
        before = len(self.violations)
        self.insert_row(number, entry["kind"])
        fault.injected_at = started_wall = time.time()
        clock = time.monotonic()
        try:
            try:
                fault.inject()
                record["detail"] = fault.describe()
                if fault.heal_first:
                    for problem in fault.during():
                        self.violations.add(problem)
                    fault.notes.append("at the end of the %.0f s window: %s" % (fault.window, self.glance(fault)))
                    clock = time.monotonic()   # the way back (a cleanup included) counts
                    fault.heal()
                elif fault.injecting():
                    clock = time.monotonic()
                record["recovery_s"], record["where"], why = self.wait_recovered(fault, clock, bound, number)
            except (kinds.FaultError, LabError) as error:
                why = "injection failed: %s" % error
            if record["recovery_s"] is None:
                self.violations.add("not recovered within %.0f s: %s" % (bound, why))
                record["diagnostics"] = self.diagnostics(started_wall)
            else:
                self.check_after(fault, record)
        finally:
            fault.heal()
        events = cluster.events(self.lab, started_wall)
        record["events"] = ["%+6.1f s  %s" % (stamp - started_wall, event) for stamp, event in events][:25]
        fenced = cluster.fenced_since(self.lab, started_wall)
        reasons = cluster.fence_reasons(self.lab, started_wall)
        for node in fenced:
            fault.notes.append("%s fenced (%s)" % (node, reasons.get(node, "no reason logged")))
        try:
            record["healthy_after"] = self.bring_back(record, number)
        except (LabError, RuntimeError) as error:
            record["diagnostics"]["bringing the pair back"] = "%s\n%s" % (error, self.status_text())
        self.check_samples(fault, started_wall)
        record["violations"] = self.violations.since(before)
        if record["violations"]:
            # what Pacemaker did, in the report: the lab's journals are gone with the lab
            try:
                for title, text in self.diagnostics(started_wall).items():
                    record["diagnostics"].setdefault(title, text)
            except (LabError, OSError) as error:
                record["diagnostics"].setdefault("pacemaker.log", "not read: %s" % error)
        record["outcome"] = outcome_of(record, fault)
        record["took_s"] = round(time.time() - started_wall)
        return record

    # ------------------------------------------------------------ recovery
    def wait_recovered(self, fault, clock, bound, number):
        """(seconds, node, None) once the cluster reacted, the group is started on one node and
        every service answers; (None, None, why) when the bound passes first."""
        deadline = clock + bound
        why = "the cluster did not react"
        self.silent = []
        while time.monotonic() < deadline:
            root = cluster.status(self.lab, fault.view())
            self.check_blocked(root, number)
            where = cluster.group_on(root)
            if not where:
                why = "group not started (as %s sees it)" % (fault.view() or "a running node")
            elif not fault.reacted(root):
                why = "the cluster did not react to the fault"
            else:
                answers = self.first_answers(clock, deadline - time.monotonic())
                silent = sorted(name for name, seconds in answers.items() if seconds is None)
                self.silent = silent
                if silent:
                    why = "no answer through the VIP from %s" % ", ".join(silent)
                    continue
                if cluster.group_on(cluster.status(self.lab, fault.view())) != where:
                    why = "the group moved while the services were probed"
                    continue
                return round(max(answers.values()), 1), where, None
            time.sleep(0.5)
        if why.startswith("the cluster did not react"):
            # as the fault expects; a fencing instead (a stop that failed) is the cause to read first
            reasons = cluster.fence_reasons(self.lab, fault.injected_at)
            fenced = ["%s fenced (%s)" % (node, reasons.get(node, "no reason logged"))
                      for node in sorted(cluster.fenced_since(self.lab, fault.injected_at))]
            if fenced:
                why += " as expected; instead " + ", ".join(fenced)
        return None, None, why

    def first_answers(self, since, timeout):
        """{probe: seconds after `since` until it first answered, or None}, polled at 0.1 s each."""
        end = time.monotonic() + max(timeout, 5)

        def watch(probe):
            while time.monotonic() < end:
                try:
                    if probe(self.lab):
                        return time.monotonic() - since
                except Exception as error:  # noqa: BLE001 - a probe may fail while nodes reboot
                    log.debug("probe: %s", error)
                time.sleep(0.1)
            return None
        with concurrent.futures.ThreadPoolExecutor(len(self.probes)) as pool:
            futures = {name: pool.submit(watch, probe) for name, probe in self.probes.items()}
            return {name: future.result() for name, future in futures.items()}

    def glance(self, fault):
        """What the pair looks like right now, in one line (for windowed faults)."""
        answers = self.first_answers(time.monotonic(), 5)
        root = cluster.status(self.lab, fault.view())
        silent = [name for name, seconds in answers.items() if seconds is None]
        return "group on %s; %s; failures: %s" % (
            cluster.group_on(root) or "no node", "no answer from " + ", ".join(silent) if silent
            else "every service answers", "; ".join(cluster.failures(root)) or "none")

    def check_blocked(self, root, number):
        """Pacemaker giving up on a resource is never the answer here: with fencing, a stop that
        fails is followed by fencing, and every other failure by a restart or a move."""
        for name in cluster.blocked(root):
            if (number, name) not in self.blocked_seen:
                self.blocked_seen.add((number, name))
                self.violations.add("%s is blocked or unmanaged: %s" % (name, "; ".join(cluster.failures(root))))

    def check_samples(self, fault, started_wall):
        """The invariants on what NodeWatch saw while this fault ran (and the pair came back),
        then the fault's own checks (on the logs up to now: the pair coming back counts)."""
        samples = self.nodes.take()
        for attribute, first, second, stamp in overlaps(samples):
            self.violations.add("%s on %s and %s at once (+%.1f s)" % (describe(attribute), first, second,
                                                                      stamp - started_wall))
        evidence = {"samples": samples, "vip": self.watch.transitions_since(started_wall - 1),
                    "events": cluster.events(self.lab, started_wall)}
        try:
            problems = fault.verify(evidence)
        except (kinds.FaultError, LabError) as error:
            problems = ["cannot check the fault's own requirements: %s" % error]
        for problem in problems:
            self.violations.add(problem)

    def check_after(self, fault, record):
        root = cluster.status(self.lab, fault.view())
        for problem in cluster.stuck(root) if root is not None else ["no cluster status after recovery"]:
            self.violations.add("after recovery: %s" % problem)
        self.check_rows()
        expected = fault.expected_on()
        if expected and record["where"] != expected:
            fault.notes.append("group on %s, expected on %s" % (record["where"], expected))
        counts = {name: cluster.fail_count(root, name) for name in pair.MEMBERS}
        failed = ["%s=%d" % item for item in counts.items() if item[1]]
        if failed:
            fault.notes.append("fail counts: " + ", ".join(failed))

    # ------------------------------------------------------------ rows in xcatdb
    def insert_row(self, number, kind):
        end = time.monotonic() + 60
        while True:
            result = pair.sql(self.lab, "INSERT INTO %s (id, kind) VALUES (%d, '%s')" % (TABLE, number, kind))
            if result.returncode == 0:
                self.committed.add(number)
                return
            if time.monotonic() > end:
                raise RuntimeError("cannot insert row %d before the fault: %s" % (number, result.stderr.strip()))
            time.sleep(2)

    def check_rows(self):
        end = time.monotonic() + 30
        while True:
            result = pair.sql(self.lab, "SELECT id FROM %s" % TABLE)
            if result.returncode == 0:
                break
            if time.monotonic() > end:
                self.violations.add("xcatdb unreadable after recovery: %s" % result.stderr.strip()[-200:])
                return
            time.sleep(2)
        missing = sorted(self.committed - {int(x) for x in result.stdout.split()})
        if missing:
            self.violations.add("rows committed before the fault are gone from xcatdb: %s" % missing)

    # ------------------------------------------------------------ back to a healthy pair
    def bring_back(self, record, number):
        """Both nodes up and online, every resource running, then failures cleaned up."""
        end = time.monotonic() + HEALTHY_BOUND
        self.power_on_left_off(record)
        offline_since = {}
        while time.monotonic() < end:
            root = cluster.status(self.lab)
            self.check_blocked(root, number)
            if (root is not None and cluster.online(root) == sorted(self.lab.cfg.node_names)
                    and cluster.group_on(root) and not cluster.fencing_pending(self.lab)):
                if not cluster.not_running(root) or time.monotonic() > end - 60:
                    break
            self.restart_stack_if_left_out(root, offline_since, record)
            time.sleep(1)
        else:
            record["diagnostics"].setdefault("not healthy again", self.status_text())
            return False
        for problem in cluster.stuck(root):
            self.violations.add("after the nodes rejoined: %s" % problem)
        for name in cluster.not_running(root):
            self.violations.add("after the nodes rejoined: %s runs nowhere" % name)
        pair.any_running_node(self.lab).exec(["crm_resource", "--cleanup"], timeout=120)
        try:
            pair.wait_healthy(self.lab, timeout=max(end - time.monotonic(), 60))
        except TimeoutError as error:
            record["diagnostics"].setdefault("not healthy again", "%s\n%s" % (error, self.status_text()))
            return False
        return True

    def power_on_left_off(self, record, grace=30):
        """The vBMC powers a fenced node on by itself (after its boot delay); a node still
        off after `grace` seconds (not fenced) is booted here, once more if that boot is
        reported as failed."""
        nodes = [self.lab.node(name) for name in self.lab.cfg.node_names]
        end = time.monotonic() + grace
        while time.monotonic() < end and not all(node.running for node in nodes):
            time.sleep(1)
        for node in nodes:
            for _ in range(2):
                if node.running:
                    break
                try:
                    self.lab.boot(node.name)
                except LabError as error:
                    record["notes"].append("boot of %s: %s" % (node.name, str(error).splitlines()[0]))
                    time.sleep(5)

    def restart_stack_if_left_out(self, root, offline_since, record):
        """A running node that stays out of the cluster (its Pacemaker exited and was not
        fenced) gets its cluster stack started again, noted in the report."""
        online = cluster.online(root) if root is not None else []
        for name in self.lab.cfg.node_names:
            if not self.lab.node(name).running or name in online:
                offline_since.pop(name, None)
                continue
            first = offline_since.setdefault(name, time.monotonic())
            if time.monotonic() - first > 90:
                record["notes"].append("%s stayed out of the cluster for 90 s: pcs cluster start" % name)
                self.lab.node(name).exec(["pcs", "cluster", "start"], timeout=120)
                offline_since[name] = time.monotonic()

    # ------------------------------------------------------------ diagnostics and results
    def status_text(self):
        try:
            return pair.any_running_node(self.lab).exec(["crm_mon", "-1", "--show-detail", "-f"], timeout=30).stdout
        except (LabError, RuntimeError) as error:
            return str(error)

    # the units behind a probe, in the journal excerpts of a run whose probe stayed silent
    PROBED_UNITS = {"dhcp": ("isc-dhcp-server", "kea-dhcp4-server"), "dns": ("named",), "xcatd": ("xcatd",),
                    "xcat": ("xcatd",), "http": ("apache2",), "tftp": ("xcatd", "tftpd-hpa"),
                    "console": ("conserver-server",), "sql": ("mariadb", "postgresql@15-main")}

    def diagnostics(self, since):
        found = {"crm_mon": self.status_text()}
        for name in self.lab.cfg.node_names:
            found["pacemaker.log of %s" % name] = "\n".join(cluster.log_excerpt(self.lab, name, since))
        units = sorted({unit for probe in self.silent for unit in self.PROBED_UNITS.get(probe, ())})
        if "dhcp" in self.silent:
            found["the DHCP offer cn1's MAC gets now"] = repr(pair.dhcp_offer(self.lab))
        for name in self.lab.cfg.node_names if units else ():
            node = self.lab.node(name)
            if node.running:
                argv = ["journalctl", "-q", "--no-pager", "-o", "short-precise", "--since", "@%d" % int(since)]
                said = node.exec(argv + ["-u%s" % unit for unit in units], timeout=30).stdout
                found["journal of %s on %s" % (", ".join(units), name)] = "\n".join(said.splitlines()[-80:])
        return found

    def summary(self):
        recovered = [r for r in self.records if r["recovery_s"] is not None]
        return {
            "seed": self.seed,
            "engine": self.engine,
            "faults": len(self.records),
            "recovered": len(recovered),
            "violations": list(self.violations.items),
            "max_recovery_s": max((r["recovery_s"] for r in recovered), default=None),
        }


# ---------------------------------------------------------------- report
def outcome_of(record, fault):
    if record["recovery_s"] is None:
        return "NOT RECOVERED"
    where = record["where"]
    moved = "moved to %s" % where if where != record["active"] else "stayed on %s" % where
    return "recovered, %s%s" % (moved, "" if not record["violations"] else ", with violations")


def line_of(record):
    seconds = "%.1f s" % record["recovery_s"] if record["recovery_s"] is not None else "-"
    return "%-22s %-6s %-40s %8s  %s" % (record["kind"], record["target"], record["detail"][:40], seconds,
                                         record["outcome"])


def write_report(path, summary, run, extra):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = " --part %d-%d" % run.part if run.part else ""
    lines = ["# Fault run, seed %s, engine %s%s" % (summary["seed"], run.engine, ", faults %d to %d of %d" % (
                 run.part + (len(run.plan),)) if run.part else ""), "",
             "Replay: `PYTHONPATH=tests python -m faults --count %d --seed %s --engine %s%s%s%s`" % (
                 len(run.plan), summary["seed"], run.engine,
                 " --kinds " + ",".join(run.kind_names) if run.kind_names else "",
                 " --arbiter" if extra.get("arbiter", "none").split()[0] != "none" else "", part),
             "", "| # | kind | target | detail | recovery (s) | bound (s) | outcome | notes | took (s) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in run.records:
        seconds = "-" if r["recovery_s"] is None else "%.1f" % r["recovery_s"]
        cells = [str(r["n"]), r["kind"], r["target"], r["detail"], seconds, "%.0f" % r["bound_s"], r["outcome"],
                 "; ".join(r["notes"]), str(r.get("took_s", "-"))]
        lines.append("| %s |" % " | ".join(cell.replace("|", "/") for cell in cells))
    recovery = sorted(r["recovery_s"] for r in run.records if r["recovery_s"] is not None)
    lines += ["", "## Totals", "",
              "- faults: %d, recovered: %d, violations: %d" % (summary["faults"], summary["recovered"],
                                                                len(summary["violations"])),
              "- recovery: max %s s, median %s s" % (summary["max_recovery_s"],
                                                      recovery[len(recovery) // 2] if recovery else None),
              "- probes through the VIP, from the client: %s" % ", ".join(run.probes),
              "- VIP sampler: %s" % json.dumps(run.watch.summary() if run.watch else {}),
              "- node sampler (db servers on the shared data, xcatd, links): %s" % json.dumps(
                  run.nodes.summary() if run.nodes else {})]
    lines += ["- %s: %s" % item for item in extra.items()]
    if run.aborted:
        lines.append("- run stopped early: %s" % run.aborted)
    lines += ["", "## Recovery by kind", "",
              "| kind | bound (s) | faults | recovered | recovery (s): min / median / max |",
              "|---|---|---|---|---|"] + by_kind(run)
    lines += ["", "## Violations", ""] + (["- %s" % v for v in summary["violations"]] or ["none"])
    lines += ["", "## Kinds", ""] + ["- **%s** (bound %.0f s): %s" % (name, cls.bound or run.bound, cls.how)
                                     for name, (cls, _) in kinds.catalogue(run.engine).items()]
    lines += ["", "## Per fault: cluster events (from pacemaker.log, seconds after injection)", ""]
    for r in run.records:
        lines += ["### %d. %s on %s %s — %s" % (r["n"], r["kind"], r["target"], r["detail"], r["outcome"]), ""]
        lines += ["    " + e for e in r["events"]] or ["    (none)"]
        for title, text in r["diagnostics"].items():
            lines += ["", "%s:" % title, "", "```", text.rstrip(), "```"]
        lines.append("")
    path.write_text("\n".join(lines) + "\n")
    return path


def by_kind(run):
    """One table row per kind of the catalogue (kinds not in the plan: no faults)."""
    rows = []
    for name, (cls, _) in kinds.catalogue(run.engine).items():
        records = [r for r in run.records if r["kind"] == name]
        times = sorted(r["recovery_s"] for r in records if r["recovery_s"] is not None)
        spread = "%.1f / %.1f / %.1f" % (times[0], times[len(times) // 2], times[-1]) if times else "-"
        rows.append("| %s | %.0f | %d | %d | %s |" % (name, cls.bound or run.bound, len(records), len(times), spread))
    return rows


# ---------------------------------------------------------------- the whole run
def fault_run(count, seed=None, kind_names=None, bound=BOUND, report=None, reuse=False, keep=False, say=print,
              with_arbiter=False, engine="postgresql", part=None, default_lab=False, snapshot=True):
    """Build (or reuse) the fault lab on xCAT's database in `engine`, run the plan, tear
    the lab down (unless keep), write the report; returns (summary, report path).
    default_lab: run in the default lab instead, which boots the snapshot the cluster tests'
    build of the same pair kept; snapshot: keep the built pair as the lab's snapshot."""
    seed = random.SystemRandom().randrange(1, 2 ** 31) if seed is None else seed
    say("faults: seed %d, engine %s" % (seed, engine))
    plan = kinds.draw_plan(random.Random(seed), count, kind_names, engine)
    storage = "fuse" if kinds.needs_storage(plan, engine) else ""
    run = Run(new_lab(default_lab, shared_storage=storage), seed, count, kind_names, bound, say, engine, part)
    lab = run.lab
    say("plan: " + ", ".join(entry["kind"] for entry in run.plan))
    if part:
        say("this run: faults %d to %d of the plan" % part)
    started = time.monotonic()
    extra = {"plan": "%d faults, digest %s" % (len(run.plan), run.digest())}
    say("plan digest: %s" % run.digest())
    try:
        if reuse and frozen.reusable(lab, engine=engine):
            say("reusing the fault lab (group on %s)" % pair.active_node(lab))
        else:
            say("building the fault lab (%s, %s.0/24)" % (lab.cfg.prefix, lab.cfg.net))
            frozen.build(lab, engine, keep=snapshot)
            extra["build"] = "%.0f s" % (time.monotonic() - started)
        if with_arbiter and not arbiter.running(lab):
            say("setting up the arbiter (corosync-qnetd in the client namespace, [quorum] arbiter)")
            arbiter.enable(lab)
        extra["arbiter"] = arbiter.address(lab.cfg) if arbiter.running(lab) else "none (fence_delay on host2)"
        summary = run.execute()
    except Exception as error:  # noqa: BLE001 - whatever stopped the run, report it
        run.violations.add("run failed: %s: %s" % (type(error).__name__, error))
        summary = run.summary()
    finally:
        if not keep:
            lab.down()
    extra["duration"] = "%.0f s" % (time.monotonic() - started)
    path = write_report(report or lab.cfg.workdir / "reports" / ("%d.md" % seed), summary, run, extra)
    say("report: %s" % path)
    return summary, path
