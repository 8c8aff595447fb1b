"""A monitor that lands in a restart xCAT's own commands do (makedns -n, makedhcp -n) waits it out."""
from xcatha import daemons, units
from xcatha.ocf import Deadline, ExitCode, OcfError


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
