"""Unit names per distro (xCAT's servicemap) and os-release parsing."""
import pytest

from xcatha import units
from xcatha.ocf import Deadline

from .conftest import Call

from .conftest import FIXTURES

OS_RELEASES = {
    "rhel8": 'NAME="Red Hat Enterprise Linux"\nVERSION_ID="8.9"\nID="rhel"\nID_LIKE="fedora"\n',
    "rhel9": 'NAME="Red Hat Enterprise Linux"\nVERSION_ID="9.4"\nID="rhel"\nID_LIKE="fedora"\n',
    "rocky9": 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n',
    "sles15": 'NAME="SLES"\nVERSION_ID="15.5"\nID="sles"\nID_LIKE="suse"\n',
    "ubuntu2204": 'NAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\nID_LIKE=debian\n',
    "ubuntu2404": 'NAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\nID_LIKE=debian\n',
    "debian12": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\nID=debian\n',
}

EXPECTED = {  # distro -> service -> first candidate unit
    "rhel8": {"named": "named.service", "dhcpd": "dhcpd.service", "conserver": "conserver.service",
              "mysql": "mariadb.service", "postgresql": "postgresql.service"},
    "rhel9": {"named": "named.service", "dhcpd": "dhcpd.service", "conserver": "conserver.service",
              "mysql": "mariadb.service", "postgresql": "postgresql.service"},
    "rocky9": {"dhcpd": "dhcpd.service"},
    "sles15": {"named": "named.service", "dhcpd": "dhcpd.service", "conserver": "conserver.service",
               "mysql": "mariadb.service", "postgresql": "postgresql.service"},
    "ubuntu2204": {"named": "named.service", "dhcpd": "isc-dhcp-server.service",
                   "conserver": "conserver-server.service", "mysql": "mariadb.service",
                   "postgresql": "postgresql@14-main.service"},
    "ubuntu2404": {"dhcpd": "isc-dhcp-server.service", "postgresql": "postgresql@16-main.service"},
    "debian12": {"named": "named.service", "dhcpd": "isc-dhcp-server.service",
                 "conserver": "conserver-server.service", "mysql": "mariadb.service",
                 "postgresql": "postgresql@15-main.service", "xcatd": "xcatd.service",
                 "goconserver": "goconserver.service"},
}
PG_VERSIONS = {"ubuntu2204": "14", "ubuntu2404": "16", "debian12": "15"}


@pytest.mark.parametrize("distro", sorted(EXPECTED))
def test_unit_names_per_distro(distro):
    family = units.distro_family(units.parse_os_release(OS_RELEASES[distro]))
    for service, unit in EXPECTED[distro].items():
        assert units.unit_candidates(service, family, PG_VERSIONS.get(distro))[0] == unit


@pytest.mark.parametrize("distro,family", [("rhel8", "rhel"), ("rhel9", "rhel"), ("rocky9", "rhel"),
                                           ("sles15", "sles"), ("ubuntu2204", "debian"),
                                           ("debian12", "debian")])
def test_distro_family(distro, family):
    assert units.distro_family(units.parse_os_release(OS_RELEASES[distro])) == family


def test_old_ubuntu_bind9_name_is_a_candidate():
    assert "bind9.service" in units.unit_candidates("named", "debian")


def test_db_directories_per_family():
    assert units.DB_DIRS["postgresql"]["rhel"] == "/var/lib/pgsql"
    assert units.DB_DIRS["postgresql"]["debian"] == "/var/lib/postgresql"
    assert units.DB_DIRS["mysql"]["sles"] == "/var/lib/mysql"


def test_detect_prefers_existing_unit_and_override(tmp_path, monkeypatch):
    (tmp_path / "bind9.service").write_text("[Unit]\n")
    monkeypatch.setattr(units, "UNIT_DIRS", (str(tmp_path),))
    monkeypatch.setattr(units, "unit_exists", lambda unit, dirs=(str(tmp_path),): (tmp_path / unit).exists())
    assert units.detect_unit("named", family="debian") == "bind9.service"
    assert units.detect_unit("named", override="my-named.service", family="debian") == "my-named.service"


def test_template_units_exist_through_their_template(tmp_path):
    (tmp_path / "postgresql@.service").write_text("[Unit]\n")
    assert units.unit_exists("postgresql@15-main.service", unit_dirs=(str(tmp_path),))


def test_debian_postgresql_umbrella_is_disabled_too():
    assert units.boot_units("postgresql", "postgresql@15-main.service", "debian") == [
        "postgresql@15-main.service", "postgresql.service"]
    assert units.boot_units("postgresql", "postgresql.service", "rhel") == ["postgresql.service"]


def test_the_cgroup_of_a_template_unit_is_in_its_templates_slice():
    # as recorded in the lab: ControlGroup=/system.slice/system-postgresql.slice/postgresql@15-main.service
    recorded = [line.split("=", 1)[1] for line in (FIXTURES / "systemctl-show-postgresql-active.txt")
                .read_text().splitlines() if line.startswith("ControlGroup=")]
    assert units.control_group("postgresql@15-main.service") == recorded[0]
    assert units.control_group("xcatd.service") == "/system.slice/xcatd.service"
    assert units.control_group("foo-bar@1.service") == "/system.slice/system-foo\\x2dbar.slice/foo-bar@1.service"


def test_stop_is_done_now_even_while_pacemaker_itself_stops(runner):
    """The drop-in orders the unit Before=pacemaker.service; during `pcs cluster stop` or a
    reboot a plain stop job would wait for Pacemaker's stop, which waits for this stop (seen in
    the lab: 36 s per member, until the agent escalated)."""
    runner.expect(Call(["systemctl", "stop", "--job-mode=ignore-dependencies", "named.service"]),
                  Call(["systemctl", "reset-failed", "named.service"]))
    assert units.stop("named.service", Deadline(60)) is True
