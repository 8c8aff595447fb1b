"""cluster-config apply changes only what xcatha owns; fence secrets never reach argv or a log;
the config file must not be readable by others."""
import xml.etree.ElementTree as ET

import pytest

from xcatha import cluster_config
from xcatha.log import log

from .conftest import EXAMPLE_CONFIG, config_file, fixture, pair_config


def test_a_config_file_others_can_read_is_refused(tmp_path):
    with pytest.raises(cluster_config.ConfigError) as error:
        cluster_config.load(config_file(tmp_path, mode=0o644))
    assert "its mode is 0644: run chmod 600" in str(error.value)


def test_every_fence_secret_stays_out_of_pcs_argv(tmp_path):
    text = EXAMPLE_CONFIG.read_text().replace("fence_password = labpass\n", "fence_passwd = labpass\n"
                                              "fence_snmp_priv_passwd = privpass\nfence_password_script = "
                                              "/root/bmc-pass\n", 1)
    config = cluster_config.load(config_file(tmp_path, text))
    argv = [arg for command in cluster_config.pcs_commands(config, with_secrets=False) for arg in command]
    assert not [arg for arg in argv if "pass" in arg.split("=")[0]], argv
    assert "username=admin" in argv


def test_a_bmc_password_equal_to_its_user_name_does_not_crash_apply(tmp_path):
    text = EXAMPLE_CONFIG.read_text().replace("fence_password = labpass", "fence_password = admin", 1)
    config = cluster_config.load(config_file(tmp_path, text))
    said = []
    cluster_config.register_secrets(config, said.append)
    assert said and "equals one of its other settings" in said[0]
    from xcatha import run
    argv = ["pcs", "-f", "new.xml"] + cluster_config.pcs_commands(config, with_secrets=False)[0]
    assert run._checked_argv(argv) == argv  # username=admin may still be passed
    assert log.contains_secret("password=labpass")  # host2's real password is still a secret


def test_an_admins_constraints_parameters_and_timeouts_are_kept(tmp_path):
    config = pair_config(tmp_path)
    root = ET.fromstring(fixture("cib.xml"))
    vip = next(p for p in root.iter("primitive") if p.get("id") == "vip")
    ET.SubElement(vip.find("instance_attributes") if vip.find("instance_attributes") is not None else
                  ET.SubElement(vip, "instance_attributes", id="vip-instance_attributes"),
                  "nvpair", id="vip-instance_attributes-arp_count", name="arp_count", value="10")
    start = next(op for op in vip.iter("op") if op.get("name") == "start")
    start.set("timeout", "90s")
    settings = cluster_config._admin_settings(root, config)
    kept = cluster_config.purge(root, config)
    # the admin's `location xcatmn prefers host1=50` comes back; xcatha's own fence constraints are rebuilt
    assert [c.get("id") for c in kept] == ["location-xcatmn-host1-50"]
    assert settings["vip"]["instance"] == {"arp_count": "10"}
    assert settings["vip"]["ops"][("start", "0s")] == "90s"
    # rebuilt as pcs would, then the admin's settings restored
    resources = root.find("configuration/resources")
    group = ET.SubElement(resources, "group", id="xcatmn")
    primitive = ET.SubElement(group, "primitive", id="vip")
    ops = ET.SubElement(primitive, "operations")
    ET.SubElement(ops, "op", name="start", interval="0s", timeout="20s", id="vip-start-interval-0s")
    cluster_config._restore(root, settings, {}, kept)
    assert primitive.find("operations/op").get("timeout") == "90s"
    assert primitive.find("instance_attributes/nvpair").get("value") == "10"
    assert root.find("configuration/constraints/rsc_location[@id='location-xcatmn-host1-50']") is not None


COLOCATION = "/cib/configuration/constraints/rsc_colocation[@id='xcatmn-with-storage']"


def test_a_difference_that_deletes_needs_force():
    patch = ('<diff format="2"><version><source admin_epoch="0" epoch="9" num_updates="0"/>'
             '<target admin_epoch="0" epoch="10" num_updates="0"/></version>'
             '<change operation="delete" path="%s" position="3"/></diff>' % COLOCATION)
    assert cluster_config.removals(patch) == [COLOCATION]


def test_the_dry_run_diff_masks_every_secret_nvpair():
    patch = ('<diff format="2"><change operation="create" path="/cib/configuration/resources" position="0">'
             '<primitive id="fence-host1"><instance_attributes id="a"><nvpair id="b" name="passwd" value="pw1"/>'
             '<nvpair id="c" name="username" value="admin"/></instance_attributes></primitive></change></diff>')
    shown = cluster_config.masked(patch)
    assert "pw1" not in shown and 'value="admin"' in shown


def test_apply_shows_what_it_would_remove_and_changes_nothing_without_force(runner, tmp_path, monkeypatch):
    from .conftest import Call
    config = pair_config(tmp_path)
    workdir = tmp_path / "cib"
    monkeypatch.setattr(cluster_config.tempfile, "mkdtemp", lambda prefix: (workdir.mkdir(), str(workdir))[1])
    new = str(workdir / "new.xml")
    patch = '<diff format="2"><change operation="delete" path="%s" position="3"/></diff>' % COLOCATION
    runner.expect(Call(["cibadmin", "--query"], stdout=fixture("cib.xml")),
                  *[Call(["pcs", "-f", new, *command]) for command in cluster_config.pcs_commands(config, False)],
                  Call(["crm_diff", "--no-version", "--original", str(workdir / "live.xml"), "--new", new], rc=1,
                       stdout=patch))
    said = []
    with pytest.raises(cluster_config.ConfigError) as error:
        cluster_config.apply(config, out=said.append)
    assert "would remove: " + COLOCATION in said
    assert "run again with --force" in str(error.value)
    # no cibadmin --patch in the script: the live configuration was not touched


def test_the_parameters_a_site_must_set_reach_the_agents(tmp_path):
    text = EXAMPLE_CONFIG.read_text().replace("[console]\n", "[dhcpd]\nconfig = /etc/dhcpd.conf\n\n[console]\n"
                                              "port = 7782\n").replace(
        "engine = postgresql ", "unit = postgresql-14.service\ndatadir = /var/lib/pgsql/14/data\nengine = postgresql ")
    params = cluster_config.resource_params(cluster_config.load(config_file(tmp_path, text)))
    assert params["db"] == {"engine": "postgresql", "unit": "postgresql-14.service",
                            "datadir": "/var/lib/pgsql/14/data"}
    assert params["dhcpd"] == {"backend": "isc", "config": "/etc/dhcpd.conf"}
    assert params["conserver"] == {"console": "conserver", "port": "7782"}
    assert tuple(params) == cluster_config.MEMBERS
