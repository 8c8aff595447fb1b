"""ocf:xcat:db with real PostgreSQL 15, MariaDB and SQLite, data on /HA-data."""
import threading

import pytest

from .support import cfgloc, exit_reason, no_traceback, sql, wait_until

UNITS = {"postgresql": "postgresql@15-main", "mysql": "mariadb"}


def main_pid(lab, unit):
    return int(lab.sh("systemctl show -p MainPID --value %s" % unit).stdout.strip() or 0)


@pytest.fixture(params=["postgresql", "mysql"])
def server(request, agent_lab):
    agent_lab.provision(request.param)
    agent_lab.stop_all()
    agent_lab.start_upto("shared-data")
    yield agent_lab
    agent_lab.stop_all()


def test_ocf_tester(server):
    result = server.ocf_tester("db")
    assert result.returncode == 0, result.stdout + result.stderr


def test_double_start_and_stop(server):
    for _ in range(2):
        assert server.run("db", "start").returncode == 0
        assert server.run("db", "monitor", depth=10, interval_ms=30000).returncode == 0
    for _ in range(2):
        assert server.run("db", "stop").returncode == 0
        assert server.run("db", "monitor").returncode == 7
    unit = UNITS[server.engine]
    assert server.sh("systemctl is-active %s" % unit).stdout.strip() in ("inactive", "failed")
    # nothing starts the server at boot (Debian's cluster units hang off postgresql.service)
    assert server.sh("systemctl is-enabled %s" % unit).stdout.strip() in ("disabled", "enabled-runtime")
    if server.engine == "postgresql":
        assert server.sh("systemctl is-enabled postgresql").stdout.strip() == "disabled"


def test_row_written_before_stop_is_read_after_start(server):
    assert server.run("db", "start").returncode == 0
    sql(server, "CREATE TABLE IF NOT EXISTS ha_probe (id INTEGER, note VARCHAR(40))")
    assert sql(server, "INSERT INTO ha_probe VALUES (42, 'before stop')").returncode == 0
    assert server.run("db", "stop").returncode == 0
    assert sql(server, "SELECT 1").returncode != 0  # really down
    assert server.run("db", "start").returncode == 0
    assert "42" in sql(server, "SELECT id FROM ha_probe WHERE note = 'before stop'").stdout


def test_killed_server_is_reported_and_start_recovers(server):
    unit = UNITS[server.engine]
    assert server.run("db", "start").returncode == 0
    pid = main_pid(server, unit)
    assert pid > 0
    server.sh("kill -KILL %d" % pid)
    wait_until(lambda: main_pid(server, unit) != pid, timeout=20)
    result = server.run("db", "monitor", interval_ms=10000)
    assert result.returncode in (1, 7), result.stderr
    # systemd must not have restarted it behind Pacemaker's back
    assert server.run("db", "monitor", interval_ms=10000).returncode in (1, 7)
    assert server.run("db", "start").returncode == 0
    assert server.run("db", "monitor", depth=10, interval_ms=30000).returncode == 0


def test_engine_mismatch_is_refused(server):
    other = "mysql" if server.engine == "postgresql" else "postgresql"
    result = server.run("db", "start", server.params("db", engine=other))
    assert result.returncode == 6
    reason = exit_reason(result)
    assert server.engine in reason and "engine=%s" % other in reason
    assert server.run("db", "monitor").returncode == 7  # nothing was started


def test_probe_on_a_node_without_the_shared_data(server):
    server.run("shared-data", "stop")
    try:
        result = server.run("db", "monitor", env={"OCF_RESKEY_CRM_meta_interval": "0"})
        assert result.returncode == 7
        result = server.run("db", "start")
        assert result.returncode == 1 and "shared data linked" in exit_reason(result)
    finally:
        server.run("shared-data", "start")


def test_password_never_in_argv_logs_or_exit_reasons(server):
    password = cfgloc(server)[3]
    samples = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            samples.append(server.sh("ps -eo args").stdout)
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        results = [server.run("db", "start"), server.run("db", "monitor", depth=10, interval_ms=30000),
                   server.run("db", "stop"), server.run("db", "start")]
    finally:
        stop.set()
        sampler.join()
    assert len(samples) > 3
    assert all(password not in sample for sample in samples)
    assert all(password not in r.stdout + r.stderr for r in results)
    logs = server.sh("cat /var/log/xcatha-agents.log; journalctl --no-pager -q -o cat").stdout
    assert password not in logs


def test_sqlite(lite):
    lite.start_upto("shared-data")
    result = lite.ocf_tester("db")
    assert result.returncode == 0, result.stdout + result.stderr
    assert lite.run("db", "monitor").returncode == 7
    assert lite.run("db", "start").returncode == 0
    assert lite.run("db", "monitor", depth=10, interval_ms=30000).returncode == 0
    mismatch = lite.run("db", "start", lite.params("db", engine="postgresql"))
    assert mismatch.returncode == 6 and "sqlite" in exit_reason(mismatch)
    lite.sh("cp /etc/xcat/site.sqlite /tmp/site.sqlite.good && printf 'garbage' | "
            "dd of=/etc/xcat/site.sqlite bs=1 seek=100 conv=notrunc 2>/dev/null && "
            "dd if=/dev/urandom of=/etc/xcat/site.sqlite bs=1024 seek=1 count=2 conv=notrunc 2>/dev/null")
    try:
        result = lite.run("db", "monitor", depth=10, interval_ms=30000)
        assert result.returncode == 1 and "site.sqlite" in exit_reason(result)
        no_traceback(result)
    finally:
        lite.sh("cp /tmp/site.sqlite.good /etc/xcat/site.sqlite")
    assert lite.run("db", "stop").returncode == 0
    assert lite.run("db", "monitor").returncode == 7
