"""The pair's config file and the CIB rendering, on CIB files (pcs -f, crm_diff, crm_verify).

Needs pcs and the installed agents (make install), no running cluster.
"""
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from xcatha import cluster_config
from xcatha.cluster_config import ConfigError

from .conftest import config_file

CONFIG = Path(__file__).resolve().parents[2] / "cluster-config" / "xcatha.conf"


def write(tmp_path, text):
    return config_file(tmp_path, text)


@pytest.mark.parametrize("edit,message", [
    (("ip = 192.168.77.10 ", "ip = 192.168.77.300"), "not an IP address"),
    (("engine = postgresql ", "engine = oracle"), "engine=oracle is not one of postgresql, mysql, sqlite"),
    (("fence_agent = fence_ipmilan\nfence_ip = 192.168.77.22", "fence_ip = 192.168.77.22"), "fence_agent is required"),
    (("[node host2]", "[spare host2]"), "exactly two [node NAME]"),
    (("fqdn = xcatmn.cluster.lab", ""), "fqdn is required"),
])
def test_bad_config_is_refused_with_a_clear_reason(tmp_path, edit, message):
    text = CONFIG.read_text()
    assert edit[0] in text
    with pytest.raises(ConfigError) as error:
        cluster_config.load(write(tmp_path, text.replace(edit[0], edit[1], 1)))
    assert message in str(error.value)


def test_commands_build_the_group_in_the_seeds_order(example_config):
    config = cluster_config.load(example_config)
    creates = [c[2] for c in cluster_config.pcs_commands(config) if c[:2] == ["resource", "create"]]
    assert creates == ["vip", "shared-data", "db", "xcatd", "named", "dhcpd", "conserver", "http"]
    without = cluster_config.pcs_commands(config, with_secrets=False)
    assert not any("password=" in arg for command in without for arg in command)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cib")
    live = directory / "live.xml"
    live.write_text(subprocess.run(["cibadmin", "--empty"], capture_output=True, text=True, check=True).stdout)
    config = cluster_config.load(config_file(tmp_path_factory.mktemp("config")))
    new = directory / "new.xml"
    cluster_config.render(config, str(live), str(new))
    return config, directory, live, new


def test_render_is_valid_and_complete(rendered):
    config, _, _, new = rendered
    assert subprocess.run(["crm_verify", "--xml-file", str(new)]).returncode == 0
    root = ET.parse(new).getroot()
    # the default layout, parallel: the chain in the group, the services beside it, after it and with it
    group = root.find(".//group[@id='xcatmn']")
    assert [p.get("id") for p in group.findall("primitive")] == ["vip", "shared-data", "db", "xcatd"]
    resources = root.find("configuration/resources")
    assert [p.get("id") for p in resources.findall("primitive") if p.get("class") == "ocf"] == \
        ["named", "dhcpd", "conserver", "http"]
    order = root.find(".//rsc_order[@id='xcatmn-then-services']")
    assert order.get("symmetrical") == "false"  # the services stop with the chain, not before it
    assert [[ref.get("id") for ref in s] + [s.get("sequential")] for s in order.findall("resource_set")] == [
        ["xcatmn", None], ["named", "dhcpd", "conserver", "http", "false"]]
    colocation = root.find(".//rsc_colocation[@id='services-with-xcatmn']")
    assert colocation.get("score") == "INFINITY"
    assert [[ref.get("id") for ref in s] + [s.get("sequential")] for s in colocation.findall("resource_set")] == [
        ["named", "dhcpd", "conserver", "http", "false"], ["xcatmn", None]]
    meta = {n.get("name"): n.get("value") for n in root.find(".//primitive[@id='dhcpd']/meta_attributes")}
    assert meta == {"resource-stickiness": "100", "migration-threshold": "5", "failure-timeout": "10min"}
    # op timeouts and intervals come from the agents' meta-data (db: start 120 s, monitors every 30 s and 60 s)
    db_ops = {(op.get("name"), op.get("interval"), op.get("timeout")) for op in root.iter("op")
              if op.get("id", "").startswith("db-")}
    assert {("start", "0s", "120s"), ("monitor", "30s", "30s"), ("monitor", "60s", "30s")} <= db_ops
    fence = root.find(".//primitive[@id='fence-host1']")
    assert fence.get("class") == "stonith" and fence.get("type") == "fence_ipmilan"
    assert {n.get("name"): n.get("value") for n in fence.iter("nvpair")}["password"] == "labpass"
    assert root.find(".//rsc_location[@rsc='fence-host1'][@node='host1']").get("score") == "-INFINITY"
    assert root.find(".//nvpair[@name='stonith-enabled']").get("value") == "true"
    assert root.find(".//nvpair[@name='start-failure-is-fatal']").get("value") == "false"


def test_a_second_render_keeps_the_admins_settings_corrects_drift_and_changes_nothing_else(rendered):
    """Over the first render, with what an admin adds (a move's constraint, target-role) and a
    parameter drifted: the admin's settings stay, the drift is corrected, nothing else changes.
    One render for all three: each is 17 pcs runs, most of the unit tier's time."""
    config, directory, _, new = rendered
    kept, edited, result = (directory / name for name in ("kept.xml", "edited.xml", "result.xml"))
    tree = ET.parse(new)
    root = tree.getroot()
    ET.SubElement(root.find(".//constraints"), "rsc_location", id="cli-prefer-xcatmn", rsc="xcatmn",
                  node="host2", score="INFINITY", role="Started")
    meta = root.find(".//group[@id='xcatmn']/meta_attributes")
    ET.SubElement(meta, "nvpair", id="xcatmn-meta_attributes-target-role", name="target-role", value="Stopped")
    tree.write(kept)   # what must come out
    vip = root.find(".//primitive[@id='vip']/instance_attributes")
    vip.find("nvpair[@name='ip']").set("value", "192.168.77.99")  # drift to be corrected
    tree.write(edited)
    cluster_config.render(config, str(edited), str(result))
    root = ET.parse(result).getroot()
    assert root.find(".//rsc_location[@id='cli-prefer-xcatmn']") is not None
    assert root.find(".//group[@id='xcatmn']/meta_attributes/nvpair[@name='target-role']").get("value") == "Stopped"
    assert root.find(".//primitive[@id='vip']//nvpair[@name='ip']").get("value") == "192.168.77.10"
    assert cluster_config.diff(str(kept), str(result)) is None


def test_render_announces_failovers_with_the_alert_agent(tmp_path, rendered):
    _config, _directory, _live, new = rendered
    alert = ET.parse(new).getroot().find("./configuration/alerts/alert[@id='xcatha-alert']")
    assert alert.get("path") == "/usr/share/xcatha/alert"
    assert alert.find("recipient") is None  # one call per event: one syslog line
    assert alert.find("instance_attributes") is None
    # with [alert] recipient the addresses become the alert's option mail_to; the purge takes the
    # old alert out first (one pcs call here: the full render is proven above)
    text = CONFIG.read_text().replace("# recipient = hpc-admins@example.org", "recipient = hpc@example.org")
    config = cluster_config.load(write(tmp_path, text))
    tree = ET.parse(new)
    cluster_config.purge(tree.getroot(), config)
    mailing = tmp_path / "mailing.xml"
    tree.write(mailing)
    assert subprocess.run(["pcs", "-f", str(mailing), *cluster_config.alert_command(config)]).returncode == 0
    alerts = ET.parse(mailing).getroot().findall("./configuration/alerts/alert")
    assert [a.get("id") for a in alerts] == ["xcatha-alert"]
    assert [(n.get("name"), n.get("value")) for n in alerts[0].iter("nvpair")] == [("mail_to", "hpc@example.org")]


@pytest.mark.parametrize("edit,message", [
    ("dir = /var/lib/xcatha/backup", "must be an absolute path"),
    ("keep = 14 ", "must be a whole number"),
])
def test_bad_backup_settings_are_refused(tmp_path, edit, message):
    text = CONFIG.read_text()
    bad = {"must be an absolute path": "dir = backups", "must be a whole number": "keep = 0 "}[message]
    with pytest.raises(ConfigError) as error:
        cluster_config.load(write(tmp_path, text.replace(edit, bad, 1)))
    assert message in str(error.value)


def test_a_backup_inside_the_shared_data_is_refused(tmp_path):
    text = CONFIG.read_text().replace("dir = /var/lib/xcatha/backup", "dir = /HA-data/backup", 1)
    with pytest.raises(ConfigError) as error:
        cluster_config.load(write(tmp_path, text))
    assert "inside the shared data /HA-data" in str(error.value)
