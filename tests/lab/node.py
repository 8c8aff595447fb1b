"""A lab node: a systemd-nspawn container booting the host's own OS under
real systemd.

Its root is an overlayfs mounted on the host: lower = read-only bind of the
host's `/`, upper = a directory on the lab's tmpfs.  The overlay outlives the
container, so a crashed and re-booted node keeps everything it wrote (like a
disk), while the host's files are never written.  The writable layers live
until `Lab.down()`.
"""

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from . import install, net
from .config import LabConfig
from .util import (NODE_ENV, LabError, children_of, is_mounted, kill_and_wait, log, ns_pid_chain,
                   pid_alive, read_cmdline, read_comm, read_pidfile, run, wait_for)

CGROUP_HIERARCHIES = ("/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified")

# Runs as the nspawn process before exec: moves itself into the node's own
# cgroups.  Without this both containers share <caller cgroup>/payload, and
# one node's systemd would see (and stop!) the other node's services.
_ENTER_CGROUPS_AND_EXEC = """
import os, sys
sep = sys.argv.index("--")
for d in sys.argv[1:sep]:
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "cgroup.procs"), "w") as f:
        f.write(str(os.getpid()))
os.execvp(sys.argv[sep + 1], sys.argv[sep + 1:])
"""


def lower_dir(cfg: LabConfig) -> Path:
    return cfg.workdir / "lower"


def state_dir(cfg: LabConfig) -> Path:
    return cfg.workdir / "state"


def cgroup_dirs(cfg: LabConfig, node: str = "") -> list[Path]:
    """The lab's cgroup (or a node's) in each hierarchy systemd uses."""
    roots = [Path(h) for h in CGROUP_HIERARCHIES if os.path.isdir(h)]
    if not roots and os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        roots = [Path("/sys/fs/cgroup")]          # pure cgroup v2 host
    return [r / cfg.prefix / node if node else r / cfg.prefix for r in roots]


def mount_shared_layers(cfg: LabConfig) -> None:
    """The read-only lower layer (all nodes) and the tmpfs for upper layers.
    The tmpfs keeps upper and lower on different filesystems: the kernel
    refuses overlapping layers."""
    lower, state = lower_dir(cfg), state_dir(cfg)
    lower.mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    if not is_mounted(lower):
        run(["mount", "--bind", "/", lower])     # not --rbind: no /proc, /sys, ... below
        run(["mount", "-o", "remount,bind,ro", lower])
        run(["mount", "--make-private", lower])
    if not is_mounted(state):
        run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % cfg.state_size,
             cfg.prefix + "-state", state])
        run(["mount", "--make-private", state])


class Node:
    def __init__(self, cfg: LabConfig, name: str):
        cfg.node_ip(name)                      # validates the name
        self.cfg = cfg
        self.name = name
        self.dir = cfg.workdir / name
        self.root = self.dir / "root"
        self.upper = state_dir(cfg) / name / "upper"
        self.pidfile = self.dir / "nspawn.pid"
        self.console_log = self.dir / "console.log"
        self._proc: Optional[subprocess.Popen] = None   # if we started nspawn

    def __repr__(self):
        return "Node(%s, %s)" % (self.name, "running" if self.running else "off")

    @property
    def ip(self) -> str:
        return self.cfg.node_ip(self.name)

    @property
    def netns(self) -> str:
        return self.cfg.node_netns(self.name)

    # --- state, derived from /proc so that every process agrees ----------
    @property
    def nspawn_pid(self) -> Optional[int]:
        pid = read_pidfile(self.pidfile)
        if pid_alive(pid) and str(self.root) in read_cmdline(pid):
            return pid
        return None

    @property
    def init_pid(self) -> Optional[int]:
        """Host pid of the container's systemd (its PID 1)."""
        nspawn = self.nspawn_pid
        if nspawn is None:
            return None
        for pid in children_of(nspawn):
            if read_comm(pid) == "systemd" and ns_pid_chain(pid)[-1:] == [1]:
                return pid
        return None

    @property
    def running(self) -> bool:
        return self.init_pid is not None

    @property
    def dead_flag(self) -> Path:
        """While this file exists the node's vBMC does not power it on: a box dead for good."""
        return self.dir / "dead"

    @contextlib.contextmanager
    def _power_lock(self):
        """Serialises boot/crash between the tests, the CLI and the vBMCs."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "power.lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield

    # --- power -------------------------------------------------------------
    def boot(self, wait: bool = True) -> None:
        """Power on: fresh address, link up, boot the same root again."""
        with self._power_lock():
            if self.nspawn_pid is not None:
                log.info("%s: already on", self.name)
            else:
                self._prepare_root()
                net.reset_node_address(self.cfg, self.name)
                self._spawn()
        if wait:
            self.wait_booted(starting=True)

    def _spawn(self) -> None:
        argv = [sys.executable, "-c", _ENTER_CGROUPS_AND_EXEC]
        argv += [str(d) for d in cgroup_dirs(self.cfg, self.name)]
        argv += ["--"] + self._nspawn_argv()
        with open(self.console_log, "a") as console:
            console.write("\n===== boot %s =====\n" % time.strftime("%F %T"))
            console.flush()
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=console,
                                          stderr=subprocess.STDOUT, env=dict(NODE_ENV),
                                          start_new_session=True)
        self.pidfile.write_text("%d\n" % self._proc.pid)
        log.info("%s: booting (nspawn pid %d)", self.name, self._proc.pid)

    def _nspawn_argv(self) -> list[str]:
        argv = [
            "systemd-nspawn", "--quiet", "-D", str(self.root), "--boot",
            # nspawn keys its /run/systemd/nspawn/propagate/<machine> directory by this name:
            # labs side by side must not share it (the hostname comes from /etc/hostname)
            "--machine=%s-%s" % (self.cfg.prefix, self.name), "--register=no", "--keep-unit",
            "--network-namespace-path=" + net.netns_path(self.netns),
            "--capability=CAP_NET_ADMIN,CAP_NET_RAW", "--console=pipe",
            # The node's own /etc must survive re-boots untouched, and the
            # host's /var/log/journal must not be written: no copying in.
            "--resolv-conf=off", "--timezone=off", "--link-journal=no",
            "--bind=%s:/HA-data" % self.cfg.shared_data,
        ]
        for host_path, node_path, read_only in self.cfg.binds:
            argv.append("--%s=%s:%s" % ("bind-ro" if read_only else "bind", host_path, node_path))
        return argv

    def wait_booted(self, timeout: Optional[float] = None, starting: bool = False) -> str:
        """Wait until systemd says running or degraded; return that state.
        A node that is off may still be powered on meanwhile (by its vBMC);
        one that dies after it started (or `starting`: is starting now) is
        an error."""
        timeout = self.cfg.boot_timeout if timeout is None else timeout
        start = time.monotonic()
        deadline = start + timeout
        state = ""
        while time.monotonic() < deadline:
            if self.nspawn_pid is None:
                # While our launcher execs systemd-nspawn its cmdline is briefly unreadable, so
                # nspawn_pid says "none": only a pid that is gone means the node died.
                if starting and not pid_alive(read_pidfile(self.pidfile)):
                    raise LabError("%s died while booting; console:\n%s" % (self.name, self.console_tail()))
                time.sleep(0.2)
                continue
            starting = True
            if self.running:
                state = self._system_state()
                if state in ("running", "degraded"):
                    break
            time.sleep(0.2)
        else:
            raise LabError("%s not booted after %ss (systemd: %s)" % (self.name, timeout, state))
        failed = ""
        if state == "degraded":
            failed = self.exec(["systemctl", "--failed", "--plain", "--no-legend"]).stdout
            failed = ", failed: " + " ".join(line.split()[0] for line in failed.splitlines() if line)
        log.info("%s: booted in %.1f s (systemd: %s%s)", self.name, time.monotonic() - start, state, failed)
        return state

    def _system_state(self) -> str:
        """`systemctl is-system-running`, or "" if the node went away meanwhile."""
        try:
            return run(self._enter_argv() + ["systemctl", "is-system-running"], check=False,
                       timeout=10, env=dict(NODE_ENV), quiet=True).stdout.strip()
        except LabError:
            return ""

    def crash(self) -> None:
        """Power cut: SIGKILL the container's init (its whole PID namespace dies
        at once) and take the link down."""
        with self._power_lock():
            nspawn = self.nspawn_pid
            if nspawn is not None:
                # Normally one child: the container's init (or, very early, its
                # not yet exec'd precursor); killing it ends the PID namespace.
                kill_and_wait(children_of(nspawn) or [nspawn], signal.SIGKILL, 3)
            net.set_node_link(self.cfg, self.name, up=False)
            if nspawn is not None:
                self._wait_nspawn_gone(nspawn)
                log.info("%s: crashed", self.name)
            else:
                log.info("%s: crash: was already off", self.name)

    def poweroff(self, timeout: float = 120) -> None:
        """Clean shutdown (nspawn turns SIGTERM into a systemd poweroff)."""
        nspawn = self.nspawn_pid
        if nspawn is None:
            log.info("%s: poweroff: already off", self.name)
            return
        log.info("%s: powering off", self.name)
        start = time.monotonic()
        os.kill(nspawn, signal.SIGTERM)
        if not wait_for(lambda: not pid_alive(nspawn), timeout, 0.1):
            log.warning("%s: no clean shutdown after %ss, crashing it", self.name, timeout)
            self.crash()
            return
        self._reap()
        net.set_node_link(self.cfg, self.name, up=False)
        log.info("%s: powered off in %.1f s", self.name, time.monotonic() - start)

    def _wait_nspawn_gone(self, nspawn: int) -> None:
        if not wait_for(lambda: not pid_alive(nspawn), 5, 0.02):
            log.warning("%s: nspawn %d did not exit, killing it", self.name, nspawn)
            kill_and_wait([nspawn])
        self._reap()

    def _reap(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            self._proc = None

    # --- provisioning (once per lab `up`) -----------------------------------
    def _prepare_root(self) -> None:
        if is_mounted(self.root):
            return
        if not is_mounted(state_dir(self.cfg)):
            raise LabError("lab storage is not mounted: run Lab.up() first")
        work = self.upper.parent / "work"
        # a disk with something on it was set up before (a lab restored from a snapshot)
        fresh = not self.upper.exists() or not any(self.upper.iterdir())
        for d in (self.upper, work, self.root):
            d.mkdir(parents=True, exist_ok=True)
        # redirect_dir lets a directory of the lower layer be renamed, as on a real
        # disk (shared-data moves /var/lib/postgresql aside); without it: EXDEV.
        run(["mount", "-t", "overlay", "%s-%s" % (self.cfg.prefix, self.name), "-o",
             "lowerdir=%s,upperdir=%s,workdir=%s,redirect_dir=on" % (lower_dir(self.cfg), self.upper, work),
             self.root])
        self.console_log.write_text("")
        if fresh:
            self._provision()

    def _provision(self) -> None:
        """First-boot setup, written straight into the node's root before it
        boots: the disabled services never start, not even once."""
        start = time.monotonic()
        etc = self.root / "etc"
        (etc / "hostname").write_text(self.name + "\n")
        (etc / "hosts").write_text(self.cfg.hosts_file())
        (etc / "machine-id").write_text(uuid.uuid4().hex + "\n")   # distinct machines
        run(["chpasswd", "-R", self.root], input="hacluster:%s\n" % self.cfg.hacluster_password)
        self._forget_cluster()
        self._systemctl_offline("disable", list(self.cfg.disabled_units) + ["corosync", "pacemaker"])
        self._systemctl_offline("enable", ["pcsd"])
        install.provision(self.cfg, self.root)
        log.info("%s: provisioned in %.1f s (hostname, hosts, hacluster password, disabled: %s)",
                 self.name, time.monotonic() - start, " ".join(self.cfg.disabled_units))

    def _forget_cluster(self) -> None:
        """Like `pcs cluster destroy`: the host's packages left Debian's sample
        corosync.conf, with which the node would start a 1-node cluster."""
        conf = self.root / "etc/corosync/corosync.conf"
        if conf.exists():
            conf.unlink()
        cib_dir = self.root / "var/lib/pacemaker/cib"
        if cib_dir.is_dir():
            for f in cib_dir.iterdir():
                f.unlink()

    def _systemctl_offline(self, verb: str, units: Sequence[str]) -> None:
        result = run(["systemctl", "--root=%s" % self.root, "--quiet", verb] + list(units), check=False)
        if result.returncode == 0:
            return
        for unit in units:   # find the culprit, do the rest anyway
            one = run(["systemctl", "--root=%s" % self.root, "--quiet", verb, unit], check=False)
            if one.returncode != 0:
                log.warning("%s: systemctl %s %s failed: %s", self.name, verb, unit, one.stderr.strip())

    # --- running commands inside -----------------------------------------
    def _enter_argv(self) -> list[str]:
        pid = self.init_pid
        if pid is None:
            raise LabError("%s is not running" % self.name)
        return ["nsenter", "-t", str(pid), "-a", "-r", "-w"]

    def exec(self, argv: Sequence[str], input: Optional[str] = None, timeout: Optional[float] = 60,
             check: bool = False, env: Optional[dict[str, str]] = None) -> subprocess.CompletedProcess:
        """Run argv inside the node (all its namespaces), output as text."""
        full_env = dict(NODE_ENV, **(env or {}))
        return run(self._enter_argv() + list(argv), check=check, input=input, timeout=timeout,
                   env=full_env)

    def shell(self, argv: Sequence[str] = ("/bin/bash", "-l")) -> int:
        """Interactive: inherits the terminal."""
        return subprocess.call(self._enter_argv() + list(argv), env=dict(NODE_ENV))

    def console_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.console_log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def forget_pid(self) -> None:
        """Used by Lab.down; the console log stays for post-mortems."""
        with contextlib.suppress(FileNotFoundError):
            self.pidfile.unlink()
