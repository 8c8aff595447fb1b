"""cfgloc parsing and the engine check, without a database."""
import pytest

from xcatha import db, run
from xcatha.log import log
from xcatha.ocf import ExitCode, OcfError

from .conftest import Call


def test_parse_postgresql_cfgloc():
    cfg = db.parse_cfgloc("Pg:dbname=xcatdb;host=192.168.77.10|xcatadm|pa|ss;word\n")
    assert (cfg.engine, cfg.dbname, cfg.host, cfg.user) == ("postgresql", "xcatdb", "192.168.77.10", "xcatadm")
    assert cfg.password == "pa|ss;word"
    assert "pa|ss;word" in log.secrets  # registered before anything could log it
    assert cfg.without_password() == "Pg:dbname=xcatdb;host=192.168.77.10|xcatadm"


def test_parse_mysql_cfgloc_with_port():
    cfg = db.parse_cfgloc("mysql:dbname=xcatdb;host=10.0.0.5;port=3307|xcatadmin|secret")
    assert (cfg.engine, cfg.host, cfg.port, cfg.user) == ("mysql", "10.0.0.5", "3307", "xcatadmin")


@pytest.mark.parametrize("text", ["", "DB2:dbname=x|u|p", "Pg dbname=x|u|p", "Pg:dbname=xcatdb|u|p",
                                  "Pg:dbname=xcatdb;host=1.2.3.4||p"])
def test_malformed_cfgloc(text):
    with pytest.raises(ValueError):
        db.parse_cfgloc(text)


def test_engine_check(tmp_path):
    cfgloc = tmp_path / "cfgloc"
    cfgloc.write_text("Pg:dbname=xcatdb;host=192.168.77.10|xcatadm|pw\n")
    assert db.check_engine("postgresql", str(cfgloc)).engine == "postgresql"
    with pytest.raises(OcfError) as mismatch:
        db.check_engine("mysql", str(cfgloc))
    assert mismatch.value.code == ExitCode.ERR_CONFIGURED
    assert "postgresql" in mismatch.value.reason and "engine=mysql" in mismatch.value.reason
    assert "pw" not in mismatch.value.reason


def test_no_cfgloc_means_sqlite_only_when_tables_exist(tmp_path):
    cfgloc = tmp_path / "cfgloc"
    with pytest.raises(OcfError) as unlinked:
        db.check_engine("postgresql", str(cfgloc))
    assert unlinked.value.code == ExitCode.ERR_GENERIC  # shared data not linked: not a config error
    (tmp_path / "site.sqlite").write_bytes(b"")
    assert db.check_engine("sqlite", str(cfgloc)) is None
    with pytest.raises(OcfError) as mismatch:
        db.check_engine("postgresql", str(cfgloc))
    assert mismatch.value.code == ExitCode.ERR_CONFIGURED and "sqlite" in mismatch.value.reason


def test_malformed_cfgloc_file_is_a_configuration_error(tmp_path):
    cfgloc = tmp_path / "cfgloc"
    cfgloc.write_text("garbage\n")
    with pytest.raises(OcfError) as error:
        db.read_cfgloc(str(cfgloc))
    assert error.value.code == ExitCode.ERR_CONFIGURED


def test_clients_get_the_password_through_the_environment(monkeypatch):
    calls = []

    def fake_run(argv, **kwargs):
        calls.append((argv, kwargs.get("env")))

        class Done:
            ok = True
        return Done()
    monkeypatch.setattr(db.run, "run", fake_run)
    cfg = db.parse_cfgloc("Pg:dbname=xcatdb;host=192.168.77.10;port=5433|xcatadm|topsecret")
    db.PostgreSQL(unit="x.service", datadir="/nonexistent", family="debian").query(cfg, "SELECT 1", None)
    cfg2 = db.parse_cfgloc("mysql:dbname=xcatdb;host=192.168.77.10|xcatadmin|topsecret2")
    db.MariaDB(unit="y.service", datadir="/nonexistent", family="debian").query(cfg2, "SELECT 1", None)
    (pg_argv, pg_env), (my_argv, my_env) = calls
    assert "topsecret" not in " ".join(pg_argv) and pg_env["PGPASSWORD"] == "topsecret"
    assert pg_argv[pg_argv.index("-p") + 1] == "5433"
    assert "topsecret2" not in " ".join(my_argv) and my_env["MYSQL_PWD"] == "topsecret2"


# ---------------------------------------------------------------- cfgloc on storage that may hang
def _read(path):
    return Call([run.python(), "-I", "-c", db.READ_CODE, path])


def test_cfgloc_is_read_by_a_child_within_the_deadline(runner):
    from xcatha import ocf
    runner.expect(Call(_read("/etc/xcat/cfgloc").argv, stdout="Pg:dbname=xcatdb;host=192.0.2.10|xcatadm|secret\n"),
                  Call(_read("/etc/xcat/cfgloc").argv, rc=2))
    cfgloc = db.read_cfgloc("/etc/xcat/cfgloc", ocf.Deadline(60))
    assert (cfgloc.engine, cfgloc.user, cfgloc.password) == ("postgresql", "xcatadm", "secret")
    assert db.read_cfgloc("/etc/xcat/cfgloc", ocf.Deadline(60)) is None   # none: SQLite


def test_cfgloc_on_hung_storage_fails_in_time(runner):
    import subprocess

    from xcatha import ocf
    runner.expect(Call(_read("/etc/xcat/cfgloc").argv, raises=subprocess.TimeoutExpired("python3", 9)))
    with pytest.raises(OcfError) as error:
        db.read_cfgloc("/etc/xcat/cfgloc", ocf.Deadline(30))
    assert error.value.code == ExitCode.ERR_GENERIC and "does not answer" in error.value.reason


def test_the_reading_child_itself(tmp_path):
    """READ_CODE run for real: the text, 2 for a missing file, 1 and the reason otherwise."""
    import subprocess
    import sys
    (tmp_path / "cfgloc").write_text("mysql:dbname=xcatdb;host=192.0.2.10|xcat|pw\n")

    def read(path):
        return subprocess.run([sys.executable, "-I", "-c", db.READ_CODE, str(path)], capture_output=True, text=True,
                              timeout=30)
    assert read(tmp_path / "cfgloc").stdout.startswith("mysql:dbname=xcatdb")
    assert read(tmp_path / "none").returncode == 2
    denied = read(tmp_path)   # a directory
    assert denied.returncode == 1 and "Is a directory" in denied.stderr


def test_the_postmaster_is_found_from_proc_alone(monkeypatch):
    """No read of postmaster.pid (on the shared storage) on the hot path: the unit's processes,
    and a backend's retitled command line is no postmaster."""
    import os
    import sys
    from xcatha import processes
    engine = db.PostgreSQL("postgresql@15-main.service", "/var/lib/postgresql/15/main")
    monkeypatch.setattr(processes, "unit_processes", lambda group: [os.getpid()])
    monkeypatch.setattr(engine, "executables", (os.path.basename(sys.executable),))
    assert engine.postmaster_running()
    monkeypatch.setattr(engine, "executables", ("postgres", "postmaster"))
    assert not engine.postmaster_running()


# ---------------------------------------------------------------- a start on a full filesystem
CFGLOC_TEXT = "mysql:dbname=xcatdb;host=192.0.2.10|xcatadmin|secret\n"


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class _Server:
    """An engine whose unit start fails `fails` times (as MariaDB's does on a full disk)."""
    name = "mysql"
    daemon = object()

    def __init__(self, datadir, fails=1):
        self.datadir, self.fails, self.starts = str(datadir), fails, 0

    def start(self, cfgloc, deadline):
        self.starts += 1
        if self.starts <= self.fails:
            raise OcfError(ExitCode.ERR_GENERIC, "systemctl start mariadb.service failed: see the journal")


def _free(datadir, megabytes=None, raises=None):
    return Call([run.python(), "-I", "-c", db.FREE_CODE, datadir],
                stdout="" if megabytes is None else "%d\n" % (megabytes * 2 ** 20), raises=raises)


@pytest.fixture
def clock(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(db.time, "sleep", clock.sleep)
    return clock


def test_a_start_that_failed_on_a_full_filesystem_waits_for_space_and_starts_again(runner, clock, tmp_path):
    from xcatha import ocf
    server = _Server(tmp_path)
    runner.expect(Call(_read("/etc/xcat/cfgloc").argv, stdout=CFGLOC_TEXT),
                  _free(server.datadir, 0), _free(server.datadir, 0), _free(server.datadir, 3),
                  _free(server.datadir, 64))
    db.start(server, "/etc/xcat/cfgloc", ocf.Deadline(120, clock=clock))
    assert server.starts == 2 and clock.now == 1003.0


def test_a_failed_start_with_space_left_is_not_waited_on(runner, clock, tmp_path):
    from xcatha import ocf
    server = _Server(tmp_path)
    runner.expect(Call(_read("/etc/xcat/cfgloc").argv, stdout=CFGLOC_TEXT), _free(server.datadir, 65))
    with pytest.raises(OcfError) as error:
        db.start(server, "/etc/xcat/cfgloc", ocf.Deadline(120, clock=clock))
    assert error.value.reason == "systemctl start mariadb.service failed: see the journal"
    assert server.starts == 1 and clock.now == 1000.0


def test_space_that_never_comes_fails_the_start_in_time_naming_the_full_filesystem(runner, clock, tmp_path):
    from xcatha import ocf
    server = _Server(tmp_path)
    polls = int(120 - db.RETRY_RESERVE - db.SPACE_POLL) + 1
    runner.expect(Call(_read("/etc/xcat/cfgloc").argv, stdout=CFGLOC_TEXT),
                  *[_free(server.datadir, 1) for _ in range(polls)])  # the first, then one a second
    with pytest.raises(OcfError) as error:
        db.start(server, "/etc/xcat/cfgloc", ocf.Deadline(120, clock=clock))
    assert error.value.code == ExitCode.ERR_GENERIC
    assert error.value.reason == ("the filesystem of %s is full (1 MB free): free space there; systemctl start "
                                  "mariadb.service failed: see the journal" % server.datadir)
    assert server.starts == 1 and 120 - (clock.now - 1000.0) >= db.RETRY_RESERVE


def test_storage_that_stops_answering_while_waiting_fails_the_start_as_it_failed(runner, clock, tmp_path):
    import subprocess

    from xcatha import ocf
    server = _Server(tmp_path)
    runner.expect(Call(_read("/etc/xcat/cfgloc").argv, stdout=CFGLOC_TEXT), _free(server.datadir, 0),
                  _free(server.datadir, raises=subprocess.TimeoutExpired("python3", 5)))
    with pytest.raises(OcfError) as error:
        db.start(server, "/etc/xcat/cfgloc", ocf.Deadline(120, clock=clock))
    assert error.value.reason == "systemctl start mariadb.service failed: see the journal"
    assert server.starts == 1


def test_sqlite_and_a_missing_server_are_never_waited_on(runner, clock, tmp_path):
    from xcatha import ocf
    server = _Server(tmp_path)
    server.daemon = None   # SQLite: no server to wait for
    runner.expect(Call(_read("/etc/xcat/cfgloc").argv, stdout=CFGLOC_TEXT))
    with pytest.raises(OcfError):
        db.start(server, "/etc/xcat/cfgloc", ocf.Deadline(120, clock=clock))
    assert server.starts == 1


def test_the_free_space_child_itself(tmp_path):
    import os
    import subprocess
    import sys
    said = subprocess.run([sys.executable, "-I", "-c", db.FREE_CODE, str(tmp_path)], capture_output=True, text=True,
                          timeout=30)
    stats = os.statvfs(tmp_path)
    assert abs(int(said.stdout) - stats.f_bavail * stats.f_frsize) < 64 * 2 ** 20
    missing = subprocess.run([sys.executable, "-I", "-c", db.FREE_CODE, str(tmp_path / "none")],
                             capture_output=True, text=True, timeout=30)
    assert missing.returncode == 1 and "No such file" in missing.stderr


def _sqlite(tmp_path):
    engine = db.SQLite(datadir=str(tmp_path / "xcat"))
    engine.marker = str(tmp_path / "marker")
    (tmp_path / "marker").write_text("started\n")
    return engine


def _quick_check(engine, **answer):
    return Call([run.python(), "-I", "-c", db.QUICK_CHECK_CODE, engine.datadir], **answer)


def test_sqlite_tables_on_storage_that_hangs_fail_the_monitor_in_time(runner, tmp_path):
    from xcatha import ocf
    engine = _sqlite(tmp_path)
    runner.expect(_quick_check(engine, raises=run.CommandTimeout("python3 did not finish within 24.0s")))
    assert engine.monitor("/etc/xcat/cfgloc", 10, ocf.Deadline(30)) == (
        ExitCode.ERR_GENERIC,
        "the SQLite tables in %s do not answer within 24s (shared storage hung?)" % engine.datadir)


def test_sqlite_depth_0_reads_nothing_on_the_shared_storage_and_start_checks_the_tables(runner, tmp_path):
    from xcatha import ocf
    engine = _sqlite(tmp_path)
    assert engine.monitor("/etc/xcat/cfgloc", 0, ocf.Deadline(30))[0] == ExitCode.SUCCESS
    runner.expect(_quick_check(engine, rc=1, stdout="no SQLite tables in %s\n" % engine.datadir))
    with pytest.raises(OcfError, match="no SQLite tables in"):
        engine.start(None, ocf.Deadline(30))


def test_the_sqlite_check_child_itself(tmp_path):
    import sqlite3
    import subprocess
    import sys

    def check(path=tmp_path):
        said = subprocess.run([sys.executable, "-I", "-c", db.QUICK_CHECK_CODE, str(path)], capture_output=True,
                              text=True, timeout=30)
        return said.returncode, said.stdout.strip()

    # storage that is gone fails the listing (fault run of seed 1206, storage-gone: ENOTCONN
    # was reported as "no SQLite tables"); a missing directory fails it the same way
    assert check(tmp_path / "gone") == (1, "cannot list %s: No such file or directory" % (tmp_path / "gone"))
    assert check() == (1, "no SQLite tables in %s" % tmp_path)
    connection = sqlite3.connect(str(tmp_path / "site.sqlite"))
    connection.execute("CREATE TABLE site (key TEXT, value TEXT)")
    connection.commit()
    connection.close()
    assert check() == (0, "")
    (tmp_path / "zzz.sqlite").write_bytes(b"not a database, just bytes" * 200)
    assert check() == (1, "%s: file is not a database" % (tmp_path / "zzz.sqlite"))


class _Down(db.MariaDB):
    """MariaDB as the monitor finds it after it aborted: its unit failed."""
    def server_status(self, deadline):
        return ExitCode.ERR_GENERIC, "mariadb.service failed (signal ABRT)"


def test_a_server_down_on_a_full_filesystem_is_reported_with_the_full_filesystem_first(runner, clock, tmp_path):
    from xcatha import ocf
    server = _Down(unit="mariadb.service", datadir=str(tmp_path), family="debian")
    runner.expect(_free(server.datadir, 11))
    code, reason = server.monitor("/etc/xcat/cfgloc", 0, ocf.Deadline(20, clock=clock))
    assert code == ExitCode.ERR_GENERIC
    assert reason == ("the filesystem of %s is full (11 MB free): free space there; mariadb.service failed "
                      "(signal ABRT)" % server.datadir)


@pytest.mark.parametrize("free", [64, None])
def test_a_server_down_with_space_left_or_unknown_keeps_its_own_reason(runner, clock, tmp_path, free):
    from xcatha import ocf
    server = _Down(unit="mariadb.service", datadir=str(tmp_path), family="debian")
    runner.expect(_free(server.datadir, free))
    assert server.monitor("/etc/xcat/cfgloc", 10, ocf.Deadline(20, clock=clock)) == (
        ExitCode.ERR_GENERIC, "mariadb.service failed (signal ABRT)")
