"""The DHCP backend (site.dhcpbackend): ISC dhcpd or Kea, from the cluster config to the
dhcpd agent's unit, configuration check and the units a standby must keep disabled."""
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from xcatha import activation, cluster_config, daemons, services, units
from xcatha.cluster_config import ConfigError
from xcatha.ocf import Deadline, ExitCode, OcfError

from .conftest import Call, config_file, fixture, pair_config

CONFIG = Path(__file__).resolve().parents[2] / "cluster-config" / "xcatha.conf"


def config_with(tmp_path, backend):
    text = CONFIG.read_text()
    assert "backend = isc " in text
    return cluster_config.load(config_file(tmp_path, text.replace("backend = isc ", "backend = %s " % backend, 1)))


def test_shipped_config_names_the_isc_backend(example_config):
    config = cluster_config.load(example_config)
    assert cluster_config.dhcp_backend(config) == "isc"
    assert cluster_config.resource_params(config)["dhcpd"] == {"backend": "isc"}


def test_kea_reaches_the_dhcpd_agent(tmp_path):
    config = config_with(tmp_path, "kea")
    assert cluster_config.resource_params(config)["dhcpd"] == {"backend": "kea"}
    creates = [c for c in cluster_config.pcs_commands(config) if c[:3] == ["resource", "create", "dhcpd"]]
    assert "backend=kea" in creates[0]


# crm_diff's patch in the lab (2026-11-29) when cluster.conf went back to `backend = isc` while
# the live dhcpd resource still had backend=kea: a changed value, nothing deleted
BACK_TO_ISC = """<diff format="2">
  <change operation="modify" path="/cib/configuration/resources/group[@id='xcatmn']/primitive[@id='dhcpd']/\
instance_attributes[@id='dhcpd-instance_attributes']/nvpair[@id='dhcpd-instance_attributes-backend']">
    <change-list>
      <change-attr name="value" operation="set" value="isc" />
    </change-list>
    <change-result>
      <nvpair id="dhcpd-instance_attributes-backend" name="backend" value="isc" />
    </change-result>
  </change>
  <change operation="move" path="/cib/configuration/resources/group[@id='xcatmn']/primitive[@id='dhcpd']/\
instance_attributes[@id='dhcpd-instance_attributes']" position="0" />
  <change operation="move" path="/cib/configuration/resources/group[@id='xcatmn']/primitive[@id='dhcpd']/\
operations" position="1" />
</diff>
"""


def cib_with_backend(backend):
    """The fixtures' live CIB with the dhcpd resource's backend parameter set."""
    root = ET.fromstring(fixture("cib.xml"))
    dhcpd = next(p for p in root.iter("primitive") if p.get("id") == "dhcpd")
    block = ET.Element("instance_attributes", id="dhcpd-instance_attributes")
    ET.SubElement(block, "nvpair", id="dhcpd-instance_attributes-backend", name="backend", value=backend)
    dhcpd.insert(0, block)
    return root


def test_going_back_from_kea_to_isc_is_no_admin_parameter_to_keep(tmp_path):
    """Seen in the lab: with `backend = isc` rendered as no parameter at all, apply took the live
    backend=kea for an admin's own parameter and kept it; the agent went on driving Kea while
    site.dhcpbackend said isc, and the next start's makedhcp -n started ISC dhcpd."""
    config = pair_config(tmp_path)
    settings = cluster_config._admin_settings(cib_with_backend("kea"), config)
    assert settings["dhcpd"]["instance"] == {}
    creates = [c for c in cluster_config.pcs_commands(config) if c[:3] == ["resource", "create", "dhcpd"]]
    # The default (parallel) layout: dhcpd runs beside the group, not in it (its meta attributes its own).
    assert [create[:5] for create in creates] == [["resource", "create", "dhcpd", "ocf:xcat:dhcpd", "backend=isc"]]
    assert creates[0][5] == "meta" and not [option for option in creates[0][6:] if option.startswith("backend")]


def test_apply_back_to_isc_pushes_the_changed_backend(runner, tmp_path, monkeypatch):
    config = pair_config(tmp_path)
    workdir = tmp_path / "cib"
    monkeypatch.setattr(cluster_config.tempfile, "mkdtemp", lambda prefix: (workdir.mkdir(), str(workdir))[1])
    new = str(workdir / "new.xml")
    runner.expect(Call(["corosync-cmapctl", "-b", "quorum"], stdout=fixture("corosync-cmapctl-quorum-two-node.txt")),
                  Call(["cibadmin", "--query"], stdout=ET.tostring(cib_with_backend("kea"), encoding="unicode")),
                  *[Call(["pcs", "-f", new, *command]) for command in cluster_config.pcs_commands(config, False)],
                  Call(["crm_diff", "--no-version", "--original", str(workdir / "live.xml"), "--new", new], rc=1,
                       stdout=BACK_TO_ISC),
                  Call(["cibadmin", "--patch", "--xml-file", str(workdir / "patch.xml")]),
                  Call(["crm_verify", "--live-check"]))
    said = []
    assert cluster_config.apply(config, out=said.append) is True  # no --force: nothing is deleted
    assert said == ["Applied %s to the cluster." % config.path]


def test_unknown_backend_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"\[dhcp\] backend=auto is not one of isc, kea"):
        config_with(tmp_path, "auto")


@pytest.mark.parametrize("family,dhcp4,ddns", [
    ("rhel", "kea-dhcp4.service", "kea-dhcp-ddns.service"),
    ("sles", "kea-dhcp4.service", "kea-dhcp-ddns.service"),
    ("debian", "kea-dhcp4-server.service", "kea-dhcp-ddns-server.service"),
])
def test_kea_unit_names_per_family(family, dhcp4, ddns):
    assert units.unit_candidates("kea-dhcp4", family)[0] == dhcp4
    assert units.unit_candidates("kea-dhcp-ddns", family)[0] == ddns
    assert units.unit_candidates("kea-ctrl-agent", family) == ["kea-ctrl-agent.service"]


@pytest.fixture
def debian_with(monkeypatch):
    """A Debian host where only the given units are installed."""
    def install(*installed):
        monkeypatch.setattr(units, "local_family", lambda: "debian")
        monkeypatch.setattr(units, "unit_exists", lambda unit, unit_dirs=units.UNIT_DIRS: unit in installed)
    return install


def test_dhcpd_drives_kea_dhcp4_and_checks_keas_config(debian_with):
    debian_with("kea-dhcp4-server.service", "isc-dhcp-server.service")
    kea = services.Dhcpd(backend="kea")
    assert (kea.unit, kea.service, kea.config) == ("kea-dhcp4-server.service", "kea-dhcp4",
                                                   "/etc/kea/kea-dhcp4.conf")
    isc = services.Dhcpd()
    assert (isc.unit, isc.config, isc.companions()) == ("isc-dhcp-server.service", "/etc/dhcp/dhcpd.conf", [])


def test_kea_companions_are_the_installed_ones(debian_with):
    debian_with("kea-dhcp4-server.service", "kea-dhcp-ddns-server.service", "kea-ctrl-agent.service")
    companions = [daemon.unit for daemon in services.Dhcpd(backend="kea").companions()]
    assert companions == ["kea-dhcp-ddns-server.service", "kea-ctrl-agent.service"]


def test_a_kea_standby_keeps_every_kea_unit_down_and_no_isc_unit(tmp_path, debian_with):
    debian_with("kea-dhcp4-server.service", "kea-dhcp-ddns-server.service", "kea-ctrl-agent.service")
    found = [unit for _service, unit, _boot in activation.service_units(config_with(tmp_path, "kea"))]
    assert "isc-dhcp-server.service" not in found
    assert {"kea-dhcp4-server.service", "kea-dhcp-ddns-server.service", "kea-ctrl-agent.service"} <= set(found)
    assert "kea-dhcp6-server.service" not in found


def test_kea_start_stops_the_isc_server_makedhcp_started_and_says_why(monkeypatch):
    """Seen in the lab: makedhcp -n took xCAT's ISC path on the new host (site.dhcpbackend=isc, the
    resource's backend=kea), started isc-dhcp-server, which held UDP 67, and Kea could not bind;
    the start waited two minutes for nothing."""
    stopped = []
    monkeypatch.setattr(units, "unit_exists", lambda unit, *args: True)
    monkeypatch.setattr(daemons.Daemon, "state", lambda self, deadline=None: units.UnitState(
        self.unit, {"ActiveState": "active" if self.service == "dhcpd" else "inactive"}))
    monkeypatch.setattr(daemons.Daemon, "stop", lambda self, deadline, rollback=False: stopped.append(
        (self.service, rollback)))
    kea = services.Dhcpd(backend="kea")
    with pytest.raises(OcfError) as error:
        kea.refuse_isc_path(Deadline(60))
    assert error.value.code == ExitCode.ERR_GENERIC
    assert error.value.reason == ("backend=kea but site.dhcpbackend selects ISC: makedhcp -n started "
                                  "isc-dhcp-server.service (stopped again)")
    assert stopped == [("dhcpd", True)]
    monkeypatch.setattr(daemons.Daemon, "state", lambda self, deadline=None: units.UnitState(
        self.unit, {"ActiveState": "inactive"}))
    kea.refuse_isc_path(Deadline(60))  # ISC not running: nothing to refuse
    assert stopped == [("dhcpd", True)]
