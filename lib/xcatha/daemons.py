"""Daemons run by systemd units (xcatd, named, dhcpd, the console server): start, stop, verify.

Start takes the unit over (no restarts of its own, not at boot), and when a
later step fails it stops what it started, so a failed start leaves nothing
half-started.  Stop verifies that no process of the unit is left — conserver's
`exec` console children, for one, survive its SIGTERM — and kills leftovers.
"""
import os
import socket
import time

from xcatha import processes, units
from xcatha.log import log
from xcatha.ocf import STATE_DIR, ExitCode, OcfError


class Daemon:
    def __init__(self, service, unit=None, family=None):
        self.service = service
        self.unit = units.detect_unit(service, unit, family)

    def state(self, deadline=None):
        return units.state(self.unit, deadline)

    def status(self, deadline=None):
        """(code, reason, state): running, cleanly stopped, or in between (failed).
        A unit with live processes in its cgroup is running; only otherwise is systemd asked."""
        # straight from cgroupfs, no systemctl fork: this is the monitors' hot path.  An alias
        # (bind9.service for named.service) has no cgroup of its own: systemd is asked then.
        pids = processes.unit_processes(units.control_group(self.unit))
        main = self._known_main_pid()
        # children outliving their main process (xcatd's unit waits 30 s before killing them)
        # and the exit hook (ExecStopPost runs in the unit's cgroup) are no running service:
        # with the main pid gone or not known yet, systemd decides (and its main pid is kept)
        if pids and main is not None and main in pids:
            running = units.RunningUnit(self.unit, pids)
            return ExitCode.SUCCESS, running.describe(), running
        state = self.state(deadline)
        if state.changing and deadline is not None:
            state = self.settled(state, deadline)
        if state.running:
            self._remember_main_pid(state.main_pid)
            return ExitCode.SUCCESS, state.describe(), state
        if state.stopped:
            return ExitCode.NOT_RUNNING, state.describe(), state
        return ExitCode.ERR_GENERIC, state.describe(), state

    def settled(self, state, deadline):
        """The state once a restart under way is over: xCAT's makedns -n, makedhcp -n and
        makeconservercf restart their daemon themselves (dhcpd is down for about 2 s); a
        monitor that lands in that window must not report a failure and trigger a recovery."""
        end = time.monotonic() + min(deadline.share(0.5), 15.0)
        while state.changing and time.monotonic() < end:
            time.sleep(0.2)
            state = self.state(deadline)
        return state

    def _main_pid_file(self):
        return os.path.join(STATE_DIR, "xcatha-main-pid-%s" % self.unit)

    def _known_main_pid(self):
        try:
            with open(self._main_pid_file(), encoding="ascii") as stream:
                return int(stream.read().strip() or 0) or None
        except (OSError, ValueError):
            return None

    def _remember_main_pid(self, pid):
        if pid and pid != self._known_main_pid():
            try:
                os.makedirs(STATE_DIR, exist_ok=True)
                with open(self._main_pid_file(), "w", encoding="ascii") as stream:
                    stream.write("%d\n" % pid)
            except OSError as error:  # only the fast path's hint: never a reason to fail
                log.debug("cannot remember the main pid of %s: %s", self.unit, error)

    def monitor(self, depth, deadline):
        """Not running (7), running and serving (0), or failed (1, with the reason)."""
        code, reason, state = self.status(deadline)
        if code == ExitCode.ERR_GENERIC:
            raise OcfError(code, reason)
        if code != ExitCode.SUCCESS:
            return code
        problem = self.serving(state, depth, deadline)
        if problem:
            raise OcfError(ExitCode.ERR_GENERIC, problem)
        return ExitCode.SUCCESS

    def serving(self, state, depth, deadline):
        """What is wrong with a running service (None: nothing); the checks grow with depth."""
        return None

    def start(self, deadline, steps_before=(), steps_after=(), ready=None):
        """Run xCAT steps, start the unit, run more steps, wait for ready(); undo on failure."""
        units.take_over(self.unit, self.service, deadline)
        try:
            self.clear_leftovers(deadline)
            for step in steps_before:
                step()
            state = self.state(deadline)
            if not state.running:
                units.start(self.unit, deadline)
                state = self.state(deadline)
            self._remember_main_pid(state.main_pid)
            for step in steps_after:
                step()
            if ready is not None:
                wait_for(lambda: self.ready_or_dead(ready, deadline), deadline, "%s to serve" % self.unit)
            code, reason, _ = self.status(deadline)
            if code != ExitCode.SUCCESS:
                raise OcfError(ExitCode.ERR_GENERIC, "after start: %s" % reason)
        except Exception:  # OcfError, and a timeout or a missing program just the same
            log.warning("start of %s failed; stopping it again so nothing is left half-started", self.unit)
            try:
                self.stop(deadline, rollback=True)
            except Exception as error:  # the start's failure is the one to report
                log.warning("stopping %s again failed too: %s", self.unit, error)
            raise

    def ready_or_dead(self, ready, deadline):
        """ready()'s answer while the server may still come up; a server that stopped with no
        job under way (killed, or exited on its own) fails the start now.  Seen in the fault
        lab: dhcpd killed during its start, and the start waited its whole 120 s in vain."""
        problem = ready()
        if problem is None:
            return None
        state = self.state(deadline)
        if state.stopped and not state.job:
            raise OcfError(ExitCode.ERR_GENERIC, "%s stopped during start: %s" % (self.unit, state.describe()))
        return problem

    def clear_leftovers(self, deadline):
        """A unit whose main process died may keep children (xCAT's xcatd unit waits 30 s,
        KillMode=mixed, before killing them); they would hold the ports the new one needs."""
        state = self.state(deadline)
        if state.running:
            return
        leftovers = state.processes()
        if leftovers:
            log.warning("%s: %d leftover process(es) of a dead instance: %s", self.unit, len(leftovers),
                        " ".join(map(str, leftovers)))
            processes.terminate(leftovers, deadline, grace=min(deadline.share(0.2), 3.0))
        if state.active_state not in ("inactive", ""):
            units.stop(self.unit, deadline, fraction=0.3)  # ends "failed"/"deactivating"

    def stop_grace(self, state):
        """Seconds the service gets to exit on its own before what is left is SIGKILLed; None:
        the unit's own stop within most of the deadline, then 5 s more after a SIGTERM."""
        return None

    def stop(self, deadline, rollback=False):
        state = self.state(deadline)
        grace = self.stop_grace(state)
        group = state.control_group
        if state.active or state.main_alive:
            units.stop(self.unit, deadline, fraction=0.6, limit=grace)
        else:
            units.stop(self.unit, deadline, fraction=0.3)  # also clears a "failed" state
        left = processes.unit_processes(group) if group else []
        if left:
            log.warning("%s: %d process(es) left after stop: %s", self.unit, len(left),
                        " ".join(str(pid) for pid in left))
            left = processes.terminate(left, deadline, grace=0.0 if grace is not None
                                       else min(deadline.share(0.3), 5.0))
            units.reset_failed(self.unit, deadline)  # a unit whose processes we killed ends "failed"
        state = self.state(deadline)
        try:
            os.unlink(self._main_pid_file())
        except OSError:
            pass
        if (left or state.main_alive) and not rollback:
            raise OcfError(ExitCode.ERR_GENERIC, "%s still has processes after stop: %s"
                           % (self.unit, " ".join(str(pid) for pid in left) or state.main_pid))


def wait_for(check, deadline, what, interval=0.2):
    """Poll check() until it returns None (ready) or the deadline nears; its last answer is the reason."""
    while True:
        problem = check()
        if problem is None:
            return
        if deadline.remaining() < max(interval * 2, 1.0):
            raise OcfError(ExitCode.ERR_GENERIC, "timed out waiting for %s: %s" % (what, problem))
        time.sleep(interval)


def tcp_accepts(port, host="127.0.0.1", timeout=1.0):
    """None when a TCP connection to host:port succeeds, else the reason."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as error:
        return "%s:%d: %s" % (host, port, error.strerror or error)
