"""A monitor that lands in a restart xCAT's own commands do (makedns -n, makedhcp -n) waits it out;
xcatd's stop when its database is gone."""
import socket

import pytest

from xcatha import daemons, processes, run, services, units
from xcatha.ocf import Deadline, ExitCode, OcfError

from .conftest import Call


class Scripted(daemons.Daemon):
    """A daemon whose unit goes through the states systemd reported during `makedhcp -n`'s restart."""

    def __init__(self, states):
        super().__init__("dhcpd", unit="isc-dhcp-server.service", family="debian")
        self.states = list(states)
        self.asked = 0

    def state(self, deadline=None):
        self.asked += 1
        return units.UnitState(self.unit, self.states.pop(0) if len(self.states) > 1 else self.states[0])


RESTARTING = [{"ActiveState": "deactivating", "SubState": "stop", "MainPID": "0"},
              {"ActiveState": "inactive", "SubState": "dead", "MainPID": "0", "Job": "812"},
              {"ActiveState": "activating", "SubState": "start", "MainPID": "0", "Job": "812"},
              {"ActiveState": "active", "SubState": "running", "MainPID": "1"}]


def test_a_restart_under_way_is_waited_out(monkeypatch):
    monkeypatch.setattr(daemons.time, "sleep", lambda seconds: None)
    daemon = Scripted(RESTARTING)
    code, reason, _ = daemon.status(Deadline(20))
    assert code == ExitCode.SUCCESS, reason
    assert daemon.asked == 4


def test_a_unit_that_never_settles_is_a_failure_not_a_hang(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(daemons.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(daemons.time, "sleep", lambda seconds: clock.__setitem__(0, clock[0] + seconds))
    daemon = Scripted([{"ActiveState": "activating", "SubState": "start", "MainPID": "0", "Job": "9"}])
    code, reason, _ = daemon.status(Deadline(20, clock=lambda: clock[0]))
    assert code == ExitCode.ERR_GENERIC and "activating" in reason
    assert clock[0] <= 10.5  # at most half the operation's time


def test_without_a_job_a_stopped_unit_is_not_running():
    daemon = Scripted([{"ActiveState": "inactive", "SubState": "dead", "MainPID": "0"}])
    assert daemon.status(Deadline(20))[0] == ExitCode.NOT_RUNNING
    assert daemon.asked == 1


def test_a_server_that_dies_during_its_start_fails_it_at_once(monkeypatch):
    """Not a wait of the whole start timeout for a server that is gone (fault lab: dhcpd
    killed while its start waited for UDP 67: 119 s, and the group moved only then)."""
    monkeypatch.setattr(daemons.time, "sleep", lambda seconds: None)
    daemon = Scripted([{"ActiveState": "failed", "SubState": "failed", "MainPID": "0"}])
    monkeypatch.setattr(units.UnitState, "processes", lambda self: [])
    try:
        daemon.ready_or_dead(lambda: "no server process", Deadline(120))
    except OcfError as error:
        assert error.code == ExitCode.ERR_GENERIC
        assert str(error) == "isc-dhcp-server.service stopped during start: isc-dhcp-server.service is failed (failed)"
    else:
        raise AssertionError("a dead server was waited for")


def test_a_server_restarting_during_its_start_is_waited_for(monkeypatch):
    """makedhcp -n restarts dhcpd itself: between its stop and its start the unit is inactive with a job."""
    monkeypatch.setattr(units.UnitState, "processes", lambda self: [])
    daemon = Scripted([{"ActiveState": "inactive", "SubState": "dead", "MainPID": "0", "Job": "812"}])
    assert daemon.ready_or_dead(lambda: "no server process", Deadline(120)) == "no server process"
    assert daemon.ready_or_dead(lambda: None, Deadline(120)) is None


# --- xcatd's stop when its database is gone ------------------------------------------------
# Recorded in the lab (PostgreSQL 15 killed with -9 under a running xcatd): `systemctl stop
# xcatd` took 15 s (two tables, three connection tries each) against 1.3-1.7 s with the
# database up, and with the VIP gone until the unit's TimeoutStopSec=30 and systemd's SIGKILL.

SHOW = ["/bin/systemctl", "show", "xcatd.service",
        "--property=LoadState,ActiveState,SubState,MainPID,ControlGroup,Job"]
RUNNING = ("LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=%d\n"
           "ControlGroup=/system.slice/xcatd.service\nJob=\n")
STOPPED = "LoadState=loaded\nActiveState=inactive\nSubState=dead\nMainPID=0\nControlGroup=\nJob=\n"


@pytest.fixture
def xcatd(tmp_path, monkeypatch):
    monkeypatch.setattr(services, "STATE_DIR", str(tmp_path))
    monkeypatch.setattr(units, "SYSTEMCTL", "/bin/systemctl")
    return services.Xcatd(unit="xcatd.service")


def listening_port():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    return server, server.getsockname()[1]


def test_xcatd_started_against_a_live_database_keeps_its_own_stop(xcatd):
    server, port = listening_port()
    with server:
        xcatd._remember_database(("127.0.0.1", port))
        assert xcatd.stop_grace(units.UnitState("xcatd.service", {"ActiveState": "active"})) is None


def test_xcatd_whose_database_is_gone_gets_a_short_grace(xcatd):
    server, port = listening_port()
    server.close()  # nothing listens there now: connection refused, as after kill -9 of the postmaster
    xcatd._remember_database(("127.0.0.1", port))
    active = units.UnitState("xcatd.service", {"ActiveState": "active"})
    assert xcatd.stop_grace(active) == services.Xcatd.DEAD_DATABASE_GRACE
    # a stopped xcatd, SQLite (no server recorded) or an xcatd started by an older xcatha: the unit's stop
    assert xcatd.stop_grace(units.UnitState("xcatd.service", {"ActiveState": "inactive"})) is None
    xcatd._remember_database(None)
    assert xcatd.stop_grace(active) is None


def test_stop_with_a_grace_kills_what_is_left_when_the_grace_is_over(xcatd, runner, monkeypatch):
    """The unit's stop is waited for the grace only, then the rest is SIGKILLed at once."""
    pid = 4321
    monkeypatch.setattr(units.UnitState, "main_alive", property(lambda self: self.main_pid == pid and alive[0]))
    alive = [True]
    monkeypatch.setattr(xcatd, "stop_grace", lambda state: 2.0)
    monkeypatch.setattr(processes, "unit_processes", lambda group: [pid] if alive[0] else [])
    killed = []

    def terminate(pids, deadline, grace):
        killed.append((pids, grace))
        alive[0] = False
        return []
    monkeypatch.setattr(processes, "terminate", terminate)
    monkeypatch.setattr(processes, "matching", lambda mark: [])
    runner.expect(
        Call(SHOW, stdout=RUNNING % pid),
        Call(["/bin/systemctl", "stop", "--job-mode=ignore-dependencies", "xcatd.service"],
             raises=run.CommandTimeout("systemctl did not finish within 2.0s")),
        Call(["/bin/systemctl", "reset-failed", "xcatd.service"]),
        Call(SHOW, stdout=STOPPED))
    budgets = []
    real_run = run.run

    def recording_run(argv, **kwargs):
        if "stop" in argv:
            budgets.append(kwargs["timeout"])
        return real_run(argv, **kwargs)
    monkeypatch.setattr(run, "run", recording_run)
    xcatd.stop(Deadline(60))
    assert budgets == [2.0]
    assert killed == [([pid], 0.0)]


def test_conserver_gets_a_short_grace_and_goconserver_its_units_stop():
    """xCAT's console scripts sleep in their TERM handler: the lab's conserver stop took 4.1 s."""
    active = units.UnitState("conserver.service", {"ActiveState": "active"})
    assert services.Console("conserver", unit="conserver.service").stop_grace(active) == 1.0
    assert services.Console("goconserver", unit="goconserver.service").stop_grace(active) is None


def test_xcatd_start_reads_cfgloc_once_by_a_bounded_child_then_asks_the_database(xcatd, runner):
    """cfgloc is on the shared storage: read once by a child within the deadline (it was read
    twice, in-process, where storage that hangs hangs the start); psql's answer as recorded
    on the host (PostgreSQL 15, nothing listening)."""
    from xcatha import db
    refused = ('psql: error: connection to server at "192.0.2.10", port 5432 failed: Connection refused\n'
               '\tIs the server running on that host and accepting TCP/IP connections?\n')
    runner.expect(Call([run.python(), "-I", "-c", db.READ_CODE, "/etc/xcat/cfgloc"],
                       stdout="Pg:dbname=xcatdb;host=192.0.2.10|xcatadm|secret\n"),
                  Call(["psql", "-X", "-w", "-q", "-A", "-t", "-h", "192.0.2.10", "-U", "xcatadm", "-d", "xcatdb",
                        "-c", "SELECT 1"], rc=2, stderr=refused, env={"PGPASSWORD": "secret"}))
    with pytest.raises(OcfError, match="xcatd needs its database, which does not answer: postgresql at 192.0.2.10: "
                                       "psql: error: connection .* failed: Connection refused$"):
        xcatd.start(Deadline(60))


def test_xcatd_start_on_storage_that_does_not_answer_fails_in_time(xcatd, runner):
    from xcatha import db
    runner.expect(Call([run.python(), "-I", "-c", db.READ_CODE, "/etc/xcat/cfgloc"],
                       raises=run.CommandTimeout(["python3"], 10)))
    with pytest.raises(OcfError, match="cannot read /etc/xcat/cfgloc: the shared storage does not answer"):
        xcatd.start(Deadline(60))
