"""A failed start stops again whatever failed; not knowing a unit's state is an error, never 'stopped'."""
import pytest

from xcatha import daemons, db, ocf, processes, run, units

from .conftest import Call

SHOW = ["--property=LoadState,ActiveState,SubState,MainPID,ControlGroup,Job"]


@pytest.mark.parametrize("failure", [run.CommandTimeout("systemctl did not finish within 20.0s"),
                                     FileNotFoundError(2, "No such file or directory", "makedhcp")])
def test_a_start_that_times_out_or_lacks_a_program_is_stopped_again(monkeypatch, failure):
    daemon = daemons.Daemon("xcatd", "xcatd.service")
    stopped = []
    monkeypatch.setattr(units, "take_over", lambda *args: None)
    monkeypatch.setattr(daemon, "clear_leftovers", lambda deadline: None)
    monkeypatch.setattr(daemon, "stop", lambda deadline, rollback=False: stopped.append(rollback))

    def step():
        raise failure
    with pytest.raises(type(failure)):
        daemon.start(ocf.Deadline(10), steps_before=[step])
    assert stopped == [True]


def test_a_failed_systemctl_show_is_an_error_not_stopped(runner, monkeypatch):
    pauses = []
    monkeypatch.setattr(units.time, "sleep", pauses.append)
    runner.expect(*[Call(["systemctl", "show", "xcatd.service", *SHOW], rc=1,
                         stderr="Failed to connect to bus: No such file or directory\n")] * 3)
    with pytest.raises(ocf.OcfError) as error:
        units.state("xcatd.service")
    assert error.value.code == ocf.ExitCode.ERR_GENERIC
    assert pauses == list(units.SHOW_RETRY_PAUSES)


def test_systemd_gone_for_a_moment_is_asked_again_not_reported(runner, monkeypatch):
    """A probe on the passive node while its systemd was briefly gone answered "error", and
    Pacemaker restarted the database and xcatd on the active node (fault run of seed 1300,
    fault 42; the reason as recorded there)."""
    pauses = []
    monkeypatch.setattr(units.time, "sleep", pauses.append)
    runner.expect(Call(["systemctl", "show", "postgresql@15-main.service", *SHOW], rc=1,
                       stderr="Failed to get properties: Transport endpoint is not connected\n"),
                  Call(["systemctl", "show", "postgresql@15-main.service", *SHOW],
                       stdout="LoadState=loaded\nActiveState=inactive\nSubState=dead\nMainPID=0\nControlGroup=\nJob=\n"))
    state = units.state("postgresql@15-main.service", deadline=ocf.Deadline(20))
    assert state.stopped and pauses == [units.SHOW_RETRY_PAUSES[0]]


def test_no_time_to_ask_again_leaves_the_failure(runner, monkeypatch):
    monkeypatch.setattr(units.time, "sleep", lambda s: pytest.fail("slept with no time left"))
    runner.expect(Call(["systemctl", "show", "xcatd.service", *SHOW], rc=1,
                       stderr="Failed to get properties: Transport endpoint is not connected\n"))
    with pytest.raises(ocf.OcfError, match="Transport endpoint is not connected"):
        units.state("xcatd.service", deadline=ocf.Deadline(1.2))


def test_stop_kills_the_server_in_its_data_directory_not_a_shell_or_a_pg_dump(monkeypatch, tmp_path):
    # an admin's shell and a pg_dump work in the data directory too
    monkeypatch.setattr(processes, "in_directory", lambda directory: [101, 102, 103])
    names = {101: "postgres", 102: "bash", 103: "pg_dump"}
    monkeypatch.setattr(processes, "executable_name", names.get)
    engine = db.PostgreSQL("postgresql@15-main.service", str(tmp_path), family="debian")
    assert engine.server_processes() == [101]


def test_the_lock_of_a_server_that_may_run_elsewhere_is_never_removed(monkeypatch, tmp_path):
    pidfile = tmp_path / "postmaster.pid"
    pidfile.write_text("4711\n/var/lib/postgresql/15/main\n")
    monkeypatch.setattr(processes, "in_directory", lambda directory: [])
    engine = db.PostgreSQL("postgresql@15-main.service", str(tmp_path), family="debian")
    # pid 4711 is not alive here: it may be the postmaster of the other host, on the same data
    monkeypatch.setattr(processes, "alive", lambda pid: False)
    engine.clear_leftovers(ocf.Deadline(10))
    assert pidfile.exists()
    # a live process of another program here with that pid would block PostgreSQL: only then it goes
    monkeypatch.setattr(processes, "alive", lambda pid: True)
    monkeypatch.setattr(processes, "executable_name", lambda pid: "sshd")
    engine.clear_leftovers(ocf.Deadline(10))
    assert not pidfile.exists()


def test_children_outliving_the_main_process_are_no_running_service(runner, monkeypatch, tmp_path):
    # xcatd's main process died; its unit (KillMode=mixed) keeps the children for 30 s
    monkeypatch.setattr(daemons, "STATE_DIR", str(tmp_path))
    (tmp_path / "xcatha-main-pid-xcatd.service").write_text("100\n")
    monkeypatch.setattr(processes, "unit_processes", lambda group: [201, 202] if group else [])
    # the state systemd reports then (written after `systemctl show` on such a unit, not recorded)
    runner.expect(Call(["systemctl", "show", "xcatd.service", *SHOW], stdout="MainPID=0\nControlGroup=/system.slice/"
                       "xcatd.service\nLoadState=loaded\nActiveState=deactivating\nSubState=stop-sigterm\n"))
    code, reason, _state = daemons.Daemon("xcatd", "xcatd.service").status()
    assert code == ocf.ExitCode.ERR_GENERIC and "deactivating" in reason


def test_the_exit_hook_in_the_cgroup_is_no_running_service(runner, monkeypatch, tmp_path):
    """Seen in the agent tier: MariaDB's main process killed, the unit's ExecStopPost hook
    (xcatha.exited) alive in its cgroup, no main pid known yet: the monitor answered 0."""
    monkeypatch.setattr(daemons, "STATE_DIR", str(tmp_path))
    monkeypatch.setattr(processes, "unit_processes", lambda group: [4242] if group else [])
    runner.expect(Call(["systemctl", "show", "mariadb.service", *SHOW], stdout="MainPID=0\nControlGroup=/system."
                       "slice/mariadb.service\nLoadState=loaded\nActiveState=failed\nSubState=failed\n"))
    code, _reason, _state = daemons.Daemon("mysql", "mariadb.service").status()
    assert code == ocf.ExitCode.ERR_GENERIC


def test_an_unknown_main_pid_is_asked_once_then_kept(runner, monkeypatch, tmp_path):
    import os
    main = os.getpid()  # a live process stands for the service's main process
    monkeypatch.setattr(daemons, "STATE_DIR", str(tmp_path))
    monkeypatch.setattr(processes, "unit_processes", lambda group: [main, 201])
    runner.expect(Call(["systemctl", "show", "xcatd.service", *SHOW], stdout="MainPID=%d\nControlGroup=/system."
                       "slice/xcatd.service\nLoadState=loaded\nActiveState=active\nSubState=running\n" % main))
    assert daemons.Daemon("xcatd", "xcatd.service").status()[0] == ocf.ExitCode.SUCCESS
    assert daemons.Daemon("xcatd", "xcatd.service").status()[0] == ocf.ExitCode.SUCCESS  # no systemctl now


def test_the_cgroup_alone_answers_while_the_main_process_lives(runner, monkeypatch, tmp_path):
    monkeypatch.setattr(daemons, "STATE_DIR", str(tmp_path))
    (tmp_path / "xcatha-main-pid-xcatd.service").write_text("100\n")
    monkeypatch.setattr(processes, "unit_processes", lambda group: [100, 201])
    code, _reason, _state = daemons.Daemon("xcatd", "xcatd.service").status()  # no systemctl: none scripted
    assert code == ocf.ExitCode.SUCCESS
