"""The whole lab: network, nodes, virtual BMCs, the Pacemaker cluster."""

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

from . import install, net, storage
from .config import LabConfig
from .node import Node, cgroup_dirs, mount_shared_layers
from .util import (NODE_ENV, LabError, all_pids, kill_and_wait, log, mounts_under, pid_alive,
                   pids_in_netns, read_cmdline, read_pidfile, run, setup_logging, wait_for)

TESTS_DIR = Path(__file__).resolve().parent.parent      # puts `lab` on the vBMC's path


class Lab:
    def __init__(self, config: Optional[LabConfig] = None):
        self.cfg = config or LabConfig()
        setup_logging(self.cfg.log_path)
        self.nodes: dict[str, Node] = {n: Node(self.cfg, n) for n in self.cfg.node_names}

    def node(self, name: str) -> Node:
        try:
            return self.nodes[name]
        except KeyError:
            raise LabError("unknown node %r" % name) from None

    # --- up / down ----------------------------------------------------------
    def up(self, nodes: Sequence[str] = ("host1", "host2"), cluster: bool = False,
           bmcs: bool = False, restore: Optional[Path] = None) -> None:
        """Fresh lab: tears down any previous one first.  With restore (lab/snapshot.py),
        the nodes boot from kept disks and the shared data is the kept one."""
        start = time.monotonic()
        log.info("up: nodes=%s cluster=%s bmcs=%s", ",".join(nodes), cluster, bmcs)
        for name in nodes:
            self.node(name)
        missing = [host for host, _, _ in self.cfg.binds if not os.path.exists(host)]
        if missing:
            raise LabError("bind source(s) missing: %s" % ", ".join(missing))
        self.down()
        self.cfg.save()
        self._install()
        self._fresh_shared_data()
        mount_shared_layers(self.cfg)
        if restore is not None:
            from . import snapshot
            snapshot.populate(self.cfg, restore)
        net.create_network(self.cfg)
        self._in_parallel([self.node(n).boot for n in nodes])
        if bmcs:
            self.start_bmcs()
        log.info("up: %d node(s) booted in %.1f s", len(nodes), time.monotonic() - start)
        if cluster:
            self.setup_cluster(nodes)
        log.info("up: done in %.1f s", time.monotonic() - start)

    _installed: set = set()  # work dirs given a copy of the checkout by this process

    def _install(self) -> None:
        """This lab's own copy of the checkout (lab/install.py); once per process and work dir."""
        if str(self.cfg.workdir) not in Lab._installed:
            install.build(self.cfg)
            Lab._installed.add(str(self.cfg.workdir))

    def _fresh_shared_data(self) -> None:
        data = self.cfg.shared_data
        if storage.enabled(self.cfg):
            storage.create(self.cfg)
            return
        if data.exists():
            run(["rm", "-rf", "--one-file-system", data])
        data.mkdir(parents=True)
        os.chown(data, 0, 0)
        data.chmod(0o755)

    @staticmethod
    def _in_parallel(calls) -> None:
        with ThreadPoolExecutor(max_workers=max(1, len(calls))) as pool:
            for future in [pool.submit(c) for c in calls]:
                future.result()

    def down(self) -> None:
        """Remove everything the lab made: processes, mounts, namespaces,
        cgroups.  Works from any state (half-failed up, killed test run)."""
        start = time.monotonic()
        self.stop_bmcs()
        storage.thaw(self.cfg)   # a frozen storage server would keep the nodes' processes in D state
        nodes = [self.node(n) for n in self.cfg.node_names]
        self._in_parallel([n.crash for n in nodes if n.nspawn_pid is not None])
        self._kill_strays()
        net.delete_network(self.cfg)
        storage.teardown(self.cfg)
        self._unmount_all()
        self._remove_cgroups()
        for n in nodes:
            n.forget_pid()
            n.dead_flag.unlink(missing_ok=True)   # a run killed during a dead-box fault left it
        left = self.leftovers()
        if left:
            raise LabError("down: left behind:\n  " + "\n  ".join(left))
        log.info("down: clean in %.1f s", time.monotonic() - start)

    def _nspawn_pids(self) -> list[int]:
        """Every systemd-nspawn running a root under our work dir."""
        mine = str(self.cfg.workdir) + "/"

        def is_ours(argv: list[str]) -> bool:
            return bool(argv) and argv[0].endswith("systemd-nspawn") and any(a.startswith(mine) for a in argv)

        return [p for p in all_pids() if is_ours(read_cmdline(p))]

    def _kill_strays(self) -> None:
        """Processes no pid file knows about: containers of a lab whose state
        was lost, anything still running in a lab namespace (leftover
        `exec`/client commands, DHCP clients, ...)."""
        namespaces = [net.netns_path(n) for n in net.existing_lab_netns(self.cfg)]

        def strays():
            # containers first: a SIGKILLed nspawn would leave its container running
            return pids_in_netns(namespaces) + self._cgroup_pids() + self._nspawn_pids()

        for _ in range(5):
            victims = strays()
            if not victims:
                return
            log.info("down: killing %d stray process(es)", len(victims))
            kill_and_wait(victims, signal.SIGKILL, 5)
        if strays():
            raise LabError("down: processes survive SIGKILL")

    def _cgroup_pids(self) -> list[int]:
        """Processes in the nodes' cgroups (every process a container started)."""
        pids = set()
        for top in cgroup_dirs(self.cfg):
            for procs in top.rglob("cgroup.procs") if top.is_dir() else ():
                pids.update(int(p) for p in procs.read_text().split())
        return sorted(p for p in pids if pid_alive(p))

    def _unmount_all(self) -> None:
        for mount_point in mounts_under(self.cfg.workdir):
            if run(["umount", mount_point], check=False).returncode != 0:
                log.warning("down: %s busy, detaching it (umount -l)", mount_point)
                run(["umount", "-l", mount_point])

    def _remove_cgroups(self) -> None:
        for top in cgroup_dirs(self.cfg):
            if not top.is_dir():
                continue
            # deepest first; an empty cgroup is removed with rmdir
            for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                d.rmdir()
            top.rmdir()

    def leftovers(self) -> list[str]:
        """Anything of a lab that should not exist after down()."""
        found = ["mount %s" % m for m in mounts_under(self.cfg.workdir)]
        found += ["netns %s" % n for n in net.existing_lab_netns(self.cfg)]
        found += ["process %d (%s)" % (p, " ".join(read_cmdline(p))[:80])
                  for p in self._nspawn_pids() + self._bmc_pids()]
        found += ["cgroup %s" % d for d in cgroup_dirs(self.cfg) if d.exists()]
        ours = "|".join(list(self.cfg.node_names) + ["client", "client-dhcp", r"bmc\d+"])
        found += ["link %s" % line.split("\\")[0] for line in run(["ip", "-o", "link"]).stdout.splitlines()
                  if re.search(r"^\d+: (%s)[@:]" % ours, line)]
        return found

    @staticmethod
    def refresh_host_files() -> None:
        """Make host-side changes made while nodes run (e.g. a re-install
        under /opt or /usr/lib/ocf) visible in the nodes.  The overlay caches
        lookups of its lower layer (`/`): without this a node that once found
        a path missing keeps seeing it missing.  Drops the kernel's dentry and
        inode caches (machine-wide, costs only some re-reads)."""
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("2\n")
        log.info("dropped dentry/inode caches: nodes see the host's current files")

    # --- power, per node ----------------------------------------------------
    def boot(self, name: str, wait: bool = True) -> None:
        self.node(name).boot(wait)

    def crash(self, name: str) -> None:
        self.node(name).crash()

    def poweroff(self, name: str, timeout: float = 120) -> None:
        self.node(name).poweroff(timeout)

    def client_exec(self, argv: Sequence[str], input: Optional[str] = None,
                    timeout: Optional[float] = 60, check: bool = False,
                    env: Optional[dict[str, str]] = None) -> subprocess.CompletedProcess:
        """Run argv in the client namespace (host filesystem, but its own
        /etc/hosts and /etc/resolv.conf via /etc/netns)."""
        full_env = dict(NODE_ENV, **(env or {}))
        return run(["ip", "netns", "exec", self.cfg.netns("client")] + list(argv),
                   input=input, timeout=timeout, check=check, env=full_env)

    # --- virtual BMCs -------------------------------------------------------
    def _bmc_pidfile(self, name: str) -> Path:
        return self.cfg.workdir / name / "bmc.pid"

    def _bmc_pid(self, name: str) -> Optional[int]:
        pid = read_pidfile(self._bmc_pidfile(name))
        if pid_alive(pid) and "lab.vbmc" in read_cmdline(pid):
            return pid
        return None

    def _bmc_pids(self) -> list[int]:
        """vBMC processes of this work dir, with or without pid file."""
        config = str(self.cfg.saved_path)
        return [p for p in all_pids() if "lab.vbmc" in read_cmdline(p) and config in read_cmdline(p)]

    def start_bmcs(self, names: Optional[Iterable[str]] = None) -> None:
        names = list(names or self.cfg.node_names)
        self.cfg.save()
        self._check_pyghmi()
        for name in names:
            if self._bmc_pid(name) is None:
                self._start_bmc(name)
        for name in names:
            self._wait_bmc_listening(name)

    def _check_pyghmi(self) -> None:
        probe = run([self.cfg.bmc_python, "-c", "import pyghmi.ipmi.bmc"], check=False)
        if probe.returncode != 0:
            raise LabError("%s cannot import pyghmi (needed for the vBMCs): %s"
                           % (self.cfg.bmc_python, probe.stderr.strip()))

    def _start_bmc(self, name: str) -> None:
        env = dict(os.environ, PYTHONPATH=str(TESTS_DIR))
        argv = ["nsenter", "--net=" + net.netns_path(self.cfg.bmc_netns(name)),
                self.cfg.bmc_python, "-m", "lab.vbmc",
                "--config", str(self.cfg.saved_path), "--node", name]
        self._bmc_pidfile(name).parent.mkdir(parents=True, exist_ok=True)
        with open(self.cfg.workdir / name / "bmc.log", "a") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    env=env, start_new_session=True, cwd="/")
        self._bmc_pidfile(name).write_text("%d\n" % proc.pid)

    def _wait_bmc_listening(self, name: str, timeout: float = 15) -> None:
        pid = read_pidfile(self._bmc_pidfile(name))
        port = ":%04X " % self.cfg.bmc_port

        def listening():
            if not pid_alive(pid):
                raise LabError("vBMC of %s died:\n%s" % (name, self._bmc_log_tail(name)))
            try:
                with open("/proc/%d/net/udp" % pid) as f:
                    return any(port in line.split(None, 3)[1] + " " for line in f.readlines()[1:])
            except OSError:
                return False

        if not wait_for(listening, timeout, 0.1):
            raise LabError("vBMC of %s not listening after %ss" % (name, timeout))
        log.info("vbmc %s: up (pid %d) at %s:%d", name, pid, self.cfg.bmc_ip(name), self.cfg.bmc_port)

    def _bmc_log_tail(self, name: str) -> str:
        try:
            return "\n".join((self.cfg.workdir / name / "bmc.log").read_text().splitlines()[-15:])
        except OSError:
            return ""

    def stop_bmcs(self) -> None:
        pids = self._bmc_pids()
        if pids:
            left = kill_and_wait(pids, signal.SIGTERM, 3)
            kill_and_wait(left, signal.SIGKILL, 3)
            log.info("vbmcs stopped (%s)", " ".join(map(str, pids)))
        for name in self.cfg.node_names:
            self._bmc_pidfile(name).unlink(missing_ok=True)

    def bmc_running(self, name: str) -> bool:
        return self._bmc_pid(name) is not None

    # --- cluster --------------------------------------------------------------
    def setup_cluster(self, nodes: Sequence[str] = ("host1", "host2"), timeout: float = 180) -> float:
        """Production flow: pcs host auth + pcs cluster setup --start --enable.
        Creates no resources; stonith-enabled keeps its default.  Returns the
        seconds until all nodes were online."""
        start = time.monotonic()
        first = self.node(nodes[0])
        hosts = []
        for name in nodes:
            hosts += [name, "addr=" + self.cfg.node_ip(name)]
        first.exec(["pcs", "host", "auth"] + hosts + ["-u", "hacluster", "-p", self.cfg.hacluster_password],
                   check=True, timeout=60)
        log.info("cluster: pcs host auth done in %.1f s", time.monotonic() - start)
        first.exec(["pcs", "cluster", "setup", self.cfg.cluster_name] + hosts
                   + ["--start", "--enable", "--wait=%d" % int(timeout)], check=True, timeout=timeout + 30)
        log.info("cluster: pcs cluster setup done in %.1f s", time.monotonic() - start)
        self.wait_online(nodes, timeout=timeout - (time.monotonic() - start), via=nodes[0])
        elapsed = time.monotonic() - start
        log.info("cluster: %s online after %.1f s", " ".join(nodes), elapsed)
        return elapsed

    def online_nodes(self, via: str) -> list[str]:
        """Nodes `crm_mon -1` on node `via` lists as Online ([] if it cannot tell)."""
        node = self.node(via)
        if not node.running:
            return []
        out = node.exec(["crm_mon", "-1"], timeout=15).stdout
        match = re.search(r"Online: \[([^\]]*)\]", out)
        return match.group(1).split() if match else []

    def wait_online(self, nodes: Sequence[str], timeout: float = 120, via: Optional[str] = None) -> None:
        via = via or nodes[0]
        if not wait_for(lambda: set(nodes) <= set(self.online_nodes(via)), max(timeout, 1), 0.5):
            raise LabError("cluster: %s not all online after %.0fs (online: %s)"
                           % (nodes, timeout, self.online_nodes(via)))

    # --- status ---------------------------------------------------------------
    def status(self) -> dict:
        nodes = {}
        for name, node in self.nodes.items():
            nodes[name] = {
                "running": node.running,
                "init_pid": node.init_pid,
                "ip": node.ip,
                "bmc": self.bmc_running(name),
            }
        return {
            "workdir": str(self.cfg.workdir),
            "netns": net.existing_lab_netns(self.cfg),
            "mounts": mounts_under(self.cfg.workdir),
            "nodes": nodes,
        }
