"""The distro tables: unit names, data directories and the DHCP config per distro, read from os-release."""
import os
import signal
import time

import pytest

from xcatha import run, services, units
from xcatha.ocf import Deadline

from .conftest import FIXTURES, Call

EL = 'NAME="{name}"\nVERSION_ID="{version}"\nID="{id}"\nID_LIKE="{like}"\n'
OS_RELEASES = {
    "rhel8": EL.format(name="Red Hat Enterprise Linux", version="8.10", id="rhel", like="fedora"),
    "rhel9": EL.format(name="Red Hat Enterprise Linux", version="9.4", id="rhel", like="fedora"),
    "rhel10": EL.format(name="Red Hat Enterprise Linux", version="10.0", id="rhel", like="centos fedora"),
    "rocky8": EL.format(name="Rocky Linux", version="8.10", id="rocky", like="rhel centos fedora"),
    "rocky9": EL.format(name="Rocky Linux", version="9.4", id="rocky", like="rhel centos fedora"),
    "rocky10": EL.format(name="Rocky Linux", version="10.0", id="rocky", like="rhel centos fedora"),
    "alma8": EL.format(name="AlmaLinux", version="8.10", id="almalinux", like="rhel centos fedora"),
    "alma9": EL.format(name="AlmaLinux", version="9.4", id="almalinux", like="rhel centos fedora"),
    "alma10": EL.format(name="AlmaLinux", version="10.0", id="almalinux", like="rhel centos fedora"),
    "sles15": 'NAME="SLES"\nVERSION="15-SP5"\nVERSION_ID="15.5"\nID="sles"\nID_LIKE="suse"\n',
    "ubuntu2204": 'NAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\nID_LIKE=debian\n',
    "ubuntu2404": 'NAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\nID_LIKE=debian\n',
    "debian12": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\nID=debian\n',
}

EL_UNITS = {"xcatd": "xcatd.service", "named": "named.service", "dhcpd": "dhcpd.service",
            "kea-dhcp4": "kea-dhcp4.service", "conserver": "conserver.service",
            "goconserver": "goconserver.service", "mysql": "mariadb.service", "postgresql": "postgresql.service"}
EL = {"family": "rhel", "units": EL_UNITS, "dhcp_config": "/etc/dhcp/dhcpd.conf",
      "dirs": ("/var/lib/pgsql", "/var/lib/mysql"), "pg_datadir": "/var/lib/pgsql/data"}


def debian_like(pg):
    return {"family": "debian", "pg": pg, "dhcp_config": "/etc/dhcp/dhcpd.conf",
            "units": {"xcatd": "xcatd.service", "named": "named.service", "dhcpd": "isc-dhcp-server.service",
                      "kea-dhcp4": "kea-dhcp4-server.service", "conserver": "conserver-server.service",
                      "goconserver": "goconserver.service",
                      "mysql": "mariadb.service", "postgresql": "postgresql@%s-main.service" % pg},
            "dirs": ("/var/lib/postgresql", "/var/lib/mysql"), "pg_datadir": "/var/lib/postgresql/%s/main" % pg}


# distro -> (table key, what a host with nothing installed yet gets)
EXPECTED = {
    "rhel8": ("rhel8", EL), "rhel9": ("rhel9", EL), "rhel10": ("rhel10", EL),
    "rocky8": ("rhel8", EL), "rocky9": ("rhel9", EL), "rocky10": ("rhel10", EL),
    "alma8": ("rhel8", EL), "alma9": ("rhel9", EL), "alma10": ("rhel10", EL),
    "sles15": ("sles15", dict(EL, family="sles", dhcp_config="/etc/dhcpd.conf")),
    "ubuntu2204": ("ubuntu22", debian_like("14")), "ubuntu2404": ("ubuntu24", debian_like("16")),
    "debian12": ("debian12", debian_like("15")),
}


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A host of a given distro with the given unit files and files, and nothing else."""
    def make(distro, unit_files=(), files=(), pg_versions=()):
        os_release = tmp_path / "os-release"
        os_release.write_text(OS_RELEASES[distro])
        monkeypatch.setattr(units, "OS_RELEASE", str(os_release))
        monkeypatch.setattr(units, "unit_exists", lambda unit, dirs=None: unit in unit_files)
        monkeypatch.setattr(units, "postgresql_version",
                            lambda root=None, prefix="": max(pg_versions, key=int) if pg_versions else None)
        real_exists = units.os.path.exists
        monkeypatch.setattr(units.os.path, "exists", lambda path: path in files or (
            real_exists(path) and not path.startswith("/etc/")))
    return make


def test_every_fixture_has_expectations():
    assert sorted(OS_RELEASES) == sorted(EXPECTED)


@pytest.mark.parametrize("distro", sorted(EXPECTED))
def test_distro_key_and_family(distro):
    os_release = units.parse_os_release(OS_RELEASES[distro])
    key, expected = EXPECTED[distro]
    assert units.distro(os_release) == key
    assert units.distro_family(os_release) == expected["family"] == units.family_of(key)


@pytest.mark.parametrize("distro", sorted(EXPECTED))
def test_units_on_a_fresh_host(distro, host):
    """Nothing installed yet: each service's first candidate (Debian's with the release's PostgreSQL)."""
    host(distro)
    key, expected = EXPECTED[distro]
    assert units.local_distro() == key
    for service, unit in expected["units"].items():
        assert units.detect_unit(service) == unit, service


@pytest.mark.parametrize("distro", sorted(EXPECTED))
def test_data_directories(distro, host):
    host(distro)
    key, expected = EXPECTED[distro]
    family = expected["family"]
    assert (units.DB_DIRS["postgresql"][family], units.DB_DIRS["mysql"][family]) == expected["dirs"]
    assert units.DB_DIRS["sqlite"][family] == "/etc/xcat"
    assert units.pg_data_dir(units.detect_unit("postgresql"), key) == expected["pg_datadir"]


@pytest.mark.parametrize("distro", sorted(EXPECTED))
def test_dhcp_config_is_the_file_xcat_writes(distro, host):
    host(distro)
    assert services.Dhcpd().config == EXPECTED[distro][1]["dhcp_config"]


def test_sles_dhcp_config_where_it_exists(host):
    host("sles15", files={"/etc/dhcp/dhcpd.conf"})
    assert services.Dhcpd().config == "/etc/dhcp/dhcpd.conf"
    host("sles15", files={"/etc/dhcpd.conf", "/etc/dhcp/dhcpd.conf"})
    assert services.Dhcpd().config == "/etc/dhcpd.conf"
    assert services.Dhcpd(config="/srv/dhcpd.conf").config == "/srv/dhcpd.conf"


@pytest.mark.parametrize("distro,unit", [("rhel10", "kea-dhcp4.service"), ("sles15", "kea-dhcp4.service"),
                                         ("debian12", "kea-dhcp4-server.service"),
                                         ("ubuntu2404", "kea-dhcp4-server.service")])
def test_kea_backend_unit_and_config(distro, unit, host):
    host(distro)
    dhcpd = services.Dhcpd(backend="kea")
    assert (dhcpd.unit, dhcpd.config) == (unit, "/etc/kea/kea-dhcp4.conf")


@pytest.mark.parametrize("distro,installed,unit", [
    ("rhel9", {"mysqld.service"}, "mysqld.service"),            # MySQL's server instead of MariaDB
    ("sles15", {"mysql.service"}, "mysql.service"),
    ("debian12", {"mysql.service"}, "mysql.service"),
    ("debian12", {"bind9.service"}, "bind9.service"),            # older Debian/Ubuntu name
    ("rhel9", {"goconserver.service"}, "goconserver.service"),
])
def test_installed_alternatives_win(distro, installed, unit, host):
    host(distro, unit_files=installed)
    service = next(s for s, names in units.SERVICE_UNITS.items()
                   if unit in units.unit_candidates(s, units.local_distro(), "15"))
    assert units.detect_unit(service) == unit


def test_postgresql_versions_installed(host):
    host("debian12", pg_versions=("13", "15"))
    assert units.detect_unit("postgresql") == "postgresql@15-main.service"
    assert units.pg_data_dir("postgresql@15-main.service", "debian12") == "/var/lib/postgresql/15/main"
    # PGDG on EL: the distro's unit is missing, the versioned one is there
    host("rocky9", unit_files={"postgresql-16.service"}, pg_versions=("16",))
    assert units.detect_unit("postgresql") == "postgresql-16.service"
    assert units.pg_data_dir("postgresql-16.service", "rhel9") == "/var/lib/pgsql/16/data"


def test_versioned_names_need_a_version():
    assert units.unit_candidates("postgresql", "rhel") == ["postgresql.service"]
    assert units.unit_candidates("postgresql", "debian") == []
    assert units.unit_candidates("postgresql", "rhel9", "15") == ["postgresql.service", "postgresql-15.service"]


def test_override_wins(host):
    host("debian12", unit_files={"bind9.service"})
    assert units.detect_unit("named", override="my-named.service") == "my-named.service"


def test_template_units_exist_through_their_template(tmp_path):
    (tmp_path / "postgresql@.service").write_text("[Unit]\n")
    assert units.unit_exists("postgresql@15-main.service", unit_dirs=(str(tmp_path),))


def test_debian_postgresql_umbrella_is_disabled_too():
    assert units.boot_units("postgresql", "postgresql@15-main.service", "debian") == [
        "postgresql@15-main.service", "postgresql.service"]
    assert units.boot_units("postgresql", "postgresql@16-main.service", "ubuntu24")[-1] == "postgresql.service"
    assert units.boot_units("postgresql", "postgresql.service", "rhel") == ["postgresql.service"]


def test_the_cgroup_of_a_template_unit_is_in_its_templates_slice():
    # as recorded in the lab: ControlGroup=/system.slice/system-postgresql.slice/postgresql@15-main.service
    recorded = [line.split("=", 1)[1] for line in (FIXTURES / "systemctl-show-postgresql-active.txt")
                .read_text().splitlines() if line.startswith("ControlGroup=")]
    assert units.control_group("postgresql@15-main.service") == recorded[0]
    assert units.control_group("xcatd.service") == "/system.slice/xcatd.service"
    assert units.control_group("foo-bar@1.service") == "/system.slice/system-foo\\x2dbar.slice/foo-bar@1.service"


def test_stop_is_done_now_even_while_pacemaker_itself_stops(runner):
    """A shutdown stops Pacemaker before the unit (the drop-in's order); during a reboot a
    plain stop job would wait for Pacemaker's stop, which waits for this stop (seen in the
    lab: 36 s per member, until the agent escalated)."""
    runner.expect(Call(["systemctl", "stop", "--job-mode=ignore-dependencies", "named.service"]),
                  Call(["systemctl", "reset-failed", "named.service"]))
    assert units.stop("named.service", Deadline(60)) is True


def test_the_drop_in_orders_the_shutdown_through_boot_cleanup_not_pacemaker_itself():
    """Before=pacemaker.service would make xCAT's own `systemctl restart` (makedhcp -n,
    makedns -n, makeconservercf) wait for Pacemaker's stop during `pcs cluster stop`, while
    Pacemaker waits for the agent running that command (seen in the lab)."""
    unit_section = units.DROP_IN.split("[Service]")[0]
    assert "Before=xcatha-boot-cleanup.service" in unit_section.splitlines()
    assert "pacemaker" not in unit_section.replace("# Written by xcatha: this service is managed by Pacemaker", "")
    packaged = (FIXTURES.parents[2] / "systemd" / "xcatha-boot-cleanup.service").read_text()
    assert "Before=corosync.service pacemaker.service" in packaged and "RemainAfterExit=yes" in packaged


def test_each_resources_unit_gets_the_exit_hook_naming_its_resource(monkeypatch):
    monkeypatch.setattr(run, "python", lambda: "/usr/bin/python3")   # the agents' interpreter
    text = units.drop_in_text("postgresql")
    assert text.startswith(units.DROP_IN)
    # "+": as root, whatever the unit's User= (MariaDB's mysql, PostgreSQL's postgres)
    assert "ExecStopPost=-+/usr/bin/python3 -I -m xcatha.exited db %n\n" in text
    assert "xcatha.exited dhcpd %n" in units.drop_in_text("kea-dhcp4")
    # a Kea companion is no resource's main service: no hook, the plain drop-in
    assert units.drop_in_text("kea-dhcp-ddns") == units.DROP_IN


def test_a_persistent_drop_in_of_an_older_xcatha_is_refreshed_where_it_is(runner, tmp_path, monkeypatch):
    """/etc shadows a runtime drop-in of the same name in /run: the hook must go where systemd reads it."""
    paths = [str(tmp_path / "etc" / "xcatd.service.d" / units.DROP_IN_NAME),
             str(tmp_path / "run" / "xcatd.service.d" / units.DROP_IN_NAME)]
    monkeypatch.setattr(units, "drop_in_paths", lambda unit: paths)
    units.write_file(paths[0], units.DROP_IN)  # what `setup finish` wrote before the hook
    units.write_file(paths[1], units.drop_in_text("xcatd"))  # shadowed: does not count
    runner.expect(Call(["systemctl", "daemon-reload"]),
                  Call(["systemctl", "is-enabled", "xcatd.service"], rc=1, stdout="disabled\n"))
    units.take_over("xcatd.service", "xcatd", Deadline(60))
    assert open(paths[0]).read() == units.drop_in_text("xcatd")
    # in place now: no write, no daemon-reload
    runner.expect(Call(["systemctl", "is-enabled", "xcatd.service"], rc=1, stdout="disabled\n"))
    units.take_over("xcatd.service", "xcatd", Deadline(60))


def test_debian_runs_isc_dhcpd_from_a_native_unit(tmp_path, monkeypatch):
    script, unit = tmp_path / "isc-dhcp-server", tmp_path / "isc-dhcp-server.service"
    monkeypatch.setattr(services, "DHCPD_INIT_SCRIPT", str(script))
    monkeypatch.setattr(services, "DHCPD_SHIPPED_UNITS", (str(tmp_path / "lib-unit"),))
    monkeypatch.setattr(services, "DHCPD_DEBIAN_UNIT", str(unit))
    assert services.adapt_dhcpd() is False and not unit.exists()  # no init script: not Debian's dhcpd
    script.write_text("#!/bin/sh\n")
    assert services.adapt_dhcpd() is True
    text = unit.read_text()
    assert "Type=exec\n" in text and "EnvironmentFile=-/etc/default/isc-dhcp-server\n" in text
    # the files and interfaces of the init script; INTERFACES is what makedhcp -n writes
    assert ("exec /usr/sbin/dhcpd -f -4 -q -cf \"$${DHCPDv4_CONF:-/etc/dhcp/dhcpd.conf}\" -pf "
            "\"$${DHCPDv4_PID:-/run/dhcpd.pid}\" $${INTERFACESv4:-$$INTERFACES}'") in text
    assert services.adapt_dhcpd() is False  # already in place
    (tmp_path / "lib-unit").write_text("[Unit]\n")  # Ubuntu ships its own unit
    unit.unlink()
    assert services.adapt_dhcpd() is False and not unit.exists()


def test_debian_runs_the_postmaster_without_pg_ctlcluster(tmp_path, monkeypatch):
    """pg_ctlcluster's start sleeps 2 s (0.5 s, then three psql answers 0.5 s apart): 2.2 s in
    the lab against 0.2 s for the server; the drop-in runs the postmaster as RHEL's unit does."""
    from xcatha import db
    wrapper, server = tmp_path / "pg_ctlcluster", tmp_path / "{version}" / "postgres"
    monkeypatch.setattr(db, "PG_CTLCLUSTER", str(wrapper))
    monkeypatch.setattr(db, "PG_DEBIAN_SERVER", str(server))
    monkeypatch.setattr(db, "PG_DEBIAN_DROP_INS", str(tmp_path / "units" / "{unit}.d"))
    drop_in = tmp_path / "units" / "postgresql@15-main.service.d" / db.PG_DEBIAN_DROP_IN
    assert db.adapt_postgresql("postgresql@15-main.service") is False  # no pg_ctlcluster: not Debian's
    wrapper.write_text("#!/usr/bin/perl\n")
    assert db.adapt_postgresql("postgresql@15-main.service") is False  # no server of that version here
    for version in ("14", "15"):
        (tmp_path / version).mkdir()
        (tmp_path / version / "postgres").write_text("")
    assert db.adapt_postgresql("postgresql@15-main.service") is True
    text = drop_in.read_text()
    assert "Type=notify\n" in text and "KillSignal=SIGINT\n" in text and "PIDFile=\n" in text
    assert "ExecStart=\nExecStart=/usr/lib/postgresql/15/bin/postgres -D /etc/postgresql/15/main\n" in text
    assert "ExecStop=\n" in text and "RuntimeDirectory=postgresql\n" in text
    assert db.adapt_postgresql("postgresql@15-main.service") is False  # already in place
    # PostgreSQL < 15 writes its statistics into a directory under /run/postgresql
    assert db.adapt_postgresql("postgresql@14-main.service") is True
    text = (tmp_path / "units" / "postgresql@14-main.service.d" / db.PG_DEBIAN_DROP_IN).read_text()
    assert "RuntimeDirectory=postgresql postgresql/14-main.pg_stat_tmp\n" in text
    # EL's units: nothing to do
    assert db.adapt_postgresql("postgresql.service") is False
    assert db.adapt_postgresql("postgresql-16.service") is False


PG = "postgresql@15-main.service"


def _failed_start(show_answer, journal_answer=None):
    from .conftest import fixture
    calls = [Call(["systemctl", "start", PG], rc=1, stderr=fixture("systemctl-start-postgresql-failed.stderr")),
             Call(["systemctl", "show", PG, "--property=Result,ExecMainStatus,InvocationID"], **show_answer)]
    if journal_answer is not None:
        calls.append(Call(["journalctl", "_SYSTEMD_INVOCATION_ID=b6ba06b8f6444cbea261b379545597d5", "-o", "json",
                           "-n", "20", "-q", "--no-pager"], **journal_answer))
    return calls


def test_a_failed_start_says_the_services_own_cause_not_where_to_look(runner):
    """Recorded in the lab: PostgreSQL refusing a data directory with mode 0777.  The unit's
    last line is xcatha's own exit hook, and the DETAIL after the FATAL names no cause."""
    from xcatha.ocf import OcfError
    from .conftest import fixture
    runner.expect(*_failed_start({"stdout": fixture("systemctl-show-postgresql-start-failed.txt")},
                                 {"stdout": fixture("journalctl-json-postgresql-start-failed.txt")}))
    with pytest.raises(OcfError) as error:
        units.start(PG, Deadline(60))
    assert error.value.reason == ('postgresql@15-main.service did not start: FATAL: data directory '
                                  '"/var/lib/postgresql/15/main" has invalid permissions (exit-code, status 1)')


def test_a_failed_start_without_the_journal_says_systemds_verdict_and_where_to_look(runner):
    from xcatha.ocf import OcfError
    from .conftest import fixture
    runner.expect(*_failed_start({"stdout": fixture("systemctl-show-postgresql-start-failed.txt")},
                                 {"rc": 1, "stderr": "No journal files were found."}))
    with pytest.raises(OcfError) as error:
        units.start(PG, Deadline(60))
    assert error.value.reason == ("postgresql@15-main.service did not start: exit-code, status 1; "
                                  "see journalctl -u postgresql@15-main.service")
    runner.expect(*_failed_start({"stdout": fixture("systemctl-show-postgresql-start-failed.txt")},
                                 {"raises": FileNotFoundError("journalctl")}))
    with pytest.raises(OcfError) as error:
        units.start(PG, Deadline(60))
    assert error.value.reason.endswith('for details.')
    runner.expect(*_failed_start({"rc": 1, "stderr": "Failed to connect to bus: No such file or directory"}))
    with pytest.raises(OcfError) as error:
        units.start(PG, Deadline(60))
    assert error.value.reason == ('postgresql@15-main.service did not start: See "systemctl status '
                                  'postgresql@15-main.service" and "journalctl -xeu postgresql@15-main.service" '
                                  'for details.')


def test_a_main_process_killed_but_not_yet_reaped_is_not_alive():
    """systemd reaps a SIGKILLed main pid a moment later: until then /proc/<pid> exists as a
    zombie.  Counting it alive failed an xcatd stop in make test (and fenced the node)."""
    child = os.fork()
    if child == 0:
        time.sleep(30)
        os._exit(0)
    try:
        state = units.UnitState("xcatd.service", {"ActiveState": "deactivating", "MainPID": str(child)})
        assert state.main_alive
        os.kill(child, signal.SIGKILL)
        while open("/proc/%d/stat" % child).read().rsplit(")", 1)[1].split()[0] != "Z":
            time.sleep(0.01)
        assert os.path.exists("/proc/%d" % child)   # the zombie, as systemd leaves it for a moment
        assert not state.main_alive
    finally:
        os.waitpid(child, 0)
    assert not state.main_alive
