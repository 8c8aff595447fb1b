"""Parity of the two MNs: what each records, the comparisons (fixtures), and the refusal of a
data directory this host's database server cannot open."""
import copy
import json
import os

import pytest

from xcatha import db, parity
from xcatha.ocf import ExitCode, OcfError

from .conftest import Call, fixture

HOST1 = json.loads(fixture("facts-host1.json"))


def recorded(**changes):
    """host2's record: host1's facts with changes (dotted keys reach into the nested ones)."""
    facts = dict(copy.deepcopy(HOST1), host="host2", recorded=1764430000.0, clock_offset=0.002)
    for key, value in changes.items():
        target = facts
        *path, last = key.split("__")
        for part in path:
            target = target[part]
        target[last] = value
    return facts


def mine(offset=0.001):
    return dict(copy.deepcopy(HOST1), clock_offset=offset)


def levels(found):
    return {what: level for level, what, _fix in found}


def fixes(found):
    return [fix for _level, _what, fix in found if fix]


NOW = 1764430100.0


def test_identical_hosts():
    found = parity.compare("host1", mine(), "host2", recorded(), now=NOW)
    assert {level for level, _w, _f in found} == {"ok", "warn"}  # the lab's clocks are not NTP-synchronized
    assert levels(found)["OS release is the same on both hosts (Debian GNU/Linux 12 (bookworm))"] == "ok"
    assert levels(found)["postgresql is the same on both hosts (postgres (PostgreSQL) 15.18 (Debian " \
                         "15.18-0+deb12u1))"] == "ok"
    assert levels(found)["the clocks of host1 and host2 are within 1.0 s"] == "ok"


def test_every_difference_is_reported_with_its_fix():
    theirs = recorded(os__version_id="13", os__name="Debian GNU/Linux 13 (trixie)",
                      xcat="Version 2.18.0 (git commit 0123abcd, built Mon Jan 12 10:00:00 UTC 2026)",
                      database__majors=["16"], database__versions=["postgres (PostgreSQL) 16.4"],
                      clock_offset=-2.5, time_synchronized="yes")
    found = parity.compare("host1", mine(offset=0.1), "host2", theirs, now=NOW)
    failed = [what for level, what, _fix in found if level == "FAIL"]
    assert failed == [
        "OS release differs: host1 has Debian GNU/Linux 12 (bookworm), host2 has Debian GNU/Linux 13 (trixie)",
        "xCAT differs: host1 has Version 2.19.0 (xcat-core-7733d16f.tar.gz, staged by the xcatha lab), host2 has "
        "Version 2.18.0 (git commit 0123abcd, built Mon Jan 12 10:00:00 UTC 2026)",
        "postgresql differs: host1 has postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1), host2 has postgres "
        "(PostgreSQL) 16.4",
        "the clocks of host1 and host2 are 2.6 s apart (each against the shared storage's clock, when last "
        "recorded)"]
    assert "install the same postgresql major version on both hosts" in fixes(found)
    assert any("chronyd" in fix for fix in fixes(found))
    assert "host1's clock is not synchronized (timedatectl: NTPSynchronized=no)" in levels(found)


def test_a_point_release_or_minor_version_is_a_warning_and_a_missing_record_says_how_to_make_one():
    theirs = recorded(os__version_id="12.1", database__versions=["postgres (PostgreSQL) 15.9"])
    found = levels(parity.compare("host1", mine(), "host2", theirs, now=NOW))
    assert found["postgresql minor versions differ: host1 has postgres (PostgreSQL) 15.18 (Debian "
                 "15.18-0+deb12u1), host2 has postgres (PostgreSQL) 15.9"] == "warn"
    assert [level for what, level in found.items() if what.startswith("OS release differs")] == ["warn"]
    assert parity.compare("host1", mine(), "host2", None) == [
        ("warn", "host2 has recorded no versions in the shared data", "boot host2, or run xcatha sync facts there")]
    stale = levels(parity.compare("host1", mine(), "host2", recorded(), now=NOW + 30 * 86400))
    assert stale["host2's versions were recorded 30 days ago"] == "warn"


def test_record_gathers_with_the_exact_commands_and_writes_the_shared_file(runner, tmp_path, monkeypatch):
    library = tmp_path / "xcat/lib/perl/xCAT"
    library.mkdir(parents=True)
    (library / "Version.pm").write_text("")
    monkeypatch.setattr(parity.xcat_version, "__defaults__", (str(tmp_path / "xcat"),))
    monkeypatch.setattr(db, "PG_BINARIES", (str(tmp_path / "pg/*/bin/postgres"),))
    binary = tmp_path / "pg/15/bin/postgres"
    binary.parent.mkdir(parents=True)
    binary.write_text("")
    binary.chmod(0o755)
    runner.expect(
        Call([str(binary), "--version"], stdout=HOST1["database"]["versions"][0] + "\n"),
        Call(["perl", "-I", str(tmp_path / "xcat/lib/perl"), "-MxCAT::Version", "-e",
              "print xCAT::Version->Version()"], stdout=HOST1["xcat"]),
        Call(["timedatectl", "show", "--property", "NTPSynchronized", "--value"], stdout="no\n"))
    shared = tmp_path / "HA-data"
    shared.mkdir()
    facts = parity.record(str(shared), "host1", "postgresql")
    written = json.loads((shared / ".xcatha-hosts/host1.json").read_text())
    assert written == facts
    assert facts["xcat"] == HOST1["xcat"] and facts["database"] == HOST1["database"]
    assert abs(facts["clock_offset"]) < 0.5 and os.listdir(shared / ".xcatha-hosts") == ["host1.json"]


# ---------------------------------------------------------------- the database major version
@pytest.mark.parametrize("engine, version, major", [
    ("postgresql", "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)", "15"),
    ("postgresql", "postgres (PostgreSQL) 9.6.24", "9.6"),
    ("mysql", " 10.11.6-MariaDB-0+deb12u1 for debian-linux-gnu on x86_64 (Debian 12)", "10.11"),
    ("mysql", "10.5.22-MariaDB\n", "10.5"),
])
def test_major_versions(engine, version, major):
    assert db.major_of(engine, version) == major


def test_data_version_from_pg_version_and_from_mariadb_upgrade_info(tmp_path):
    main = tmp_path / "postgresql/15/main"
    main.mkdir(parents=True)
    (main / "PG_VERSION").write_text("15\n")
    assert db.data_version("postgresql", str(main)) == ("15", str(main / "PG_VERSION"))
    # Debian: a server of another major looks for its own directory; the data beside it is found
    assert db.data_version("postgresql", str(tmp_path / "postgresql/16/main")) == ("15", str(main / "PG_VERSION"))
    (tmp_path / "mysql").mkdir()
    assert db.data_version("mysql", str(tmp_path / "mysql")) == (None, None)
    (tmp_path / "mysql/mysql_upgrade_info").write_bytes(b"10.11.6-MariaDB\0")
    assert db.data_version("mysql", str(tmp_path / "mysql")) == ("10.11", str(tmp_path / "mysql/mysql_upgrade_info"))


def test_a_data_major_this_host_lacks_is_refused_with_what_to_install():
    data = ("16", "/var/lib/postgresql/16/main/PG_VERSION")
    assert db.version_problem("postgresql", data, {"15": "15.18"}, host="host2") == (
        "install PostgreSQL 16 on host2",
        "the database in /var/lib/postgresql/16/main is PostgreSQL 16 (PG_VERSION) but host2 has PostgreSQL 15; a "
        "data directory moves to another major version only with pg_upgrade")
    assert db.version_problem("postgresql", data, {"16": "16.4"}, unit="postgresql@16-main.service") is None
    assert db.version_problem("postgresql", ("15", "/var/lib/postgresql/15/main/PG_VERSION"),
                              {"15": "x", "16": "y"}, unit="postgresql@16-main.service", host="host2") == (
        "set [database] unit = postgresql@15-main in cluster.conf, then xcatha cluster-config apply",
        "the database in /var/lib/postgresql/15/main is PostgreSQL 15 but host2 would run postgresql@16-main.service")
    assert db.version_problem("postgresql", (None, None), {}, host="host2") is None  # no data yet


def test_mariadb_neither_older_nor_newer_than_the_data():
    data = ("10.11", "/var/lib/mysql/mysql_upgrade_info")
    assert db.version_problem("mysql", data, {"10.11": "10.11.6"}, host="host2") is None
    assert db.version_problem("mysql", data, {"10.5": "10.5.22"}, host="host2") == (
        "upgrade MariaDB on host2 to 10.11",
        "the database in /var/lib/mysql was last upgraded by MariaDB 10.11 (mysql_upgrade_info) but host2 has "
        "MariaDB 10.5")
    older = ("10.5", "/var/lib/mysql/mysql_upgrade_info")
    fix, why = db.version_problem("mysql", older, {"10.11": "10.11.6"}, host="host2")
    assert fix.startswith("upgrade MariaDB to 10.11 on the other host too, then run mariadb-upgrade once")
    assert why == "the database in /var/lib/mysql is MariaDB 10.5 (mysql_upgrade_info) and host2's MariaDB 10.11 " \
        "would upgrade it so that the other host's could no longer open it"


def test_db_start_refuses_before_it_starts_anything(runner, tmp_path, monkeypatch):
    main = tmp_path / "15/main"
    main.mkdir(parents=True)
    (main / "PG_VERSION").write_text("16\n")
    cfgloc = tmp_path / "cfgloc"
    cfgloc.write_text("Pg:dbname=xcatdb;host=192.168.73.10|xcatadm|secret\n")
    monkeypatch.setattr(db, "PG_BINARIES", (str(tmp_path / "bin/postgres"),))
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/postgres").write_text("")
    (tmp_path / "bin/postgres").chmod(0o755)
    monkeypatch.setattr(db, "_own_name", lambda: "host2")
    runner.expect(Call([str(tmp_path / "bin/postgres"), "--version"],
                       stdout="postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"))
    engine = db.PostgreSQL(unit="postgresql@15-main.service", datadir=str(main), family="debian")
    with pytest.raises(OcfError) as refused:
        db.start(engine, str(cfgloc), deadline=None)
    assert refused.value.code == ExitCode.ERR_INSTALLED
    assert refused.value.reason.startswith("install PostgreSQL 16 on host2: the database in %s is PostgreSQL 16 "
                                           "(PG_VERSION) but host2 has PostgreSQL 15" % main)
