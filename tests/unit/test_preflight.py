"""xcatha check, with the runner scripted: it reads the pair and the cluster and writes nothing."""
import json
import os
import socket

import pytest

from xcatha import activation, parity, preflight, units, vip, xcat

from .conftest import Call, fixture, ip_addr, pair_config

QUIET = ["--query", "--quiet"]
SYNC_PATH_ENABLED = Call(["systemctl", "is-enabled", "xcatha-sync.path"], stdout="enabled\n")
SYNC_PATH_STATE = ["systemctl", "show", "xcatha-sync.path", "--property=ActiveState,Result"]
SYNC_PATH_WATCHING = Call(SYNC_PATH_STATE, stdout="Result=success\nActiveState=active\n")  # as the lab's says
METADATA_IPMILAN = Call(["crm_resource", "--show-metadata", "stonith:fence_ipmilan"],
                        stdout=fixture("crm_resource-metadata-fence_ipmilan.xml"))


@pytest.fixture
def host1(tmp_path, monkeypatch):
    monkeypatch.setattr(vip, "static_hostname", lambda: "host1")
    monkeypatch.setattr(xcat, "path_of", lambda name: None)  # no xCAT on this host
    monkeypatch.setattr(preflight, "_versions", lambda engine: {"xcat": "Version 2.19.0"})
    monkeypatch.setattr(parity, "gather", lambda engine: json.loads(fixture("facts-host1.json")))
    monkeypatch.setattr(activation, "service_units", lambda config: [("xcatd", "xcatd.service",
                                                                      ["xcatd.service"])])
    monkeypatch.setattr(units, "drop_in_paths", lambda unit: [str(tmp_path / "no-drop-in" / unit)])
    monkeypatch.setattr(socket, "getaddrinfo", lambda name, port: [(2, 1, 6, "", ("192.168.73.10", 0))])
    return pair_config(tmp_path)


@pytest.mark.parametrize("stonith", ["true", "False", "n"])   # Pacemaker's words for no, in any case
def test_check_writes_nothing(runner, host1, stonith):
    shared = host1.get("shared", "dir")
    runner.expect(
        ip_addr(),
        Call(["systemctl", "is-enabled", "xcatd.service"], rc=1, stdout="disabled\n"),
        Call(["systemctl", "is-enabled", "xcatha-boot-cleanup.service"], stdout="enabled\n"),
        Call(["cibadmin", "--query"], stdout=fixture("cib.xml")),
        Call(["crm_attribute", "--type", "crm_config", "--name", "stonith-enabled", *QUIET], stdout=stonith + "\n"),
        Call(["crm_resource", "--locate", "--resource", "fence-host1"],
             stdout="resource fence-host1 is running on: host2\n"),
        Call(["stonith_admin", "--history", "host1"], stdout=""),
        Call(["crm_resource", "--locate", "--resource", "fence-host2"],
             stdout="resource fence-host2 is running on: host1\n"),
        Call(["stonith_admin", "--history", "host2"],
             stdout="reboot of host2 successful: delegate=host1, client=stonith_admin.4103, origin=host1, "
                    "completed='2026-11-29 15:03:31Z'\n"),
        METADATA_IPMILAN,   # once for both devices: the recorded CIB sets no disable_timeout
        Call(["corosync-cmapctl", "-g", "quorum.two_node"], stdout="quorum.two_node (u8) = 1\n"),
        Call(["systemctl", "is-enabled", "xcatha-backup.timer"], stdout="enabled\n"),
        Call(["cibadmin", "--query", "--scope", "nodes"], stdout=fixture("cib-nodes-after-crash.xml")),
        SYNC_PATH_ENABLED, SYNC_PATH_WATCHING)
    findings = {finding.what: finding.level for finding in preflight.check(host1)}
    assert os.listdir(shared) == []
    assert findings["host2 has recorded no versions in the shared data"] == preflight.WARN
    assert findings["fencing of host1 is configured (fence-host1) but never tested"] == preflight.WARN
    assert findings["host2 can be fenced (fence-host2) and has been, successfully"] == preflight.OK
    assert findings.get("stonith-enabled is false: a failover could run the MN twice") == (
        None if stonith == "true" else preflight.FAIL)
    for node in ("host1", "host2"):
        assert findings["fence-%s (fence_ipmilan) waits for a rebooted %s to power on with no limit: if its board "
                        "dies, its fencing never completes and the peer never takes over" % (node, node)] == \
            preflight.WARN


def test_a_fence_device_that_stops_waiting_for_power_on_is_no_finding(runner):
    """disable_timeout=false (cluster-config/xcatha.conf's fence_disable_timeout) on one device: no
    metadata asked for it; the other's agent (fence_kdump, which waits for its own message) has no
    such option: nothing to say."""
    cib = fixture("cib.xml").replace(
        '<nvpair id="fence-host1-instance_attributes-power_wait" name="power_wait" value="0"/>',
        '<nvpair id="fence-host1-instance_attributes-power_wait" name="power_wait" value="0"/>'
        '<nvpair id="fence-host1-instance_attributes-disable_timeout" name="disable_timeout" value="false"/>')
    cib = cib.replace('<primitive id="fence-host2" class="stonith" type="fence_ipmilan">',
                      '<primitive id="fence-host2" class="stonith" type="fence_kdump">')
    assert 'name="disable_timeout" value="false"' in cib and 'type="fence_kdump"' in cib
    runner.expect(Call(["crm_resource", "--show-metadata", "stonith:fence_kdump"],
                       stdout=fixture("crm_resource-metadata-fence_kdump.xml")))
    import xml.etree.ElementTree as ET
    assert preflight._endless_power_on_waits(ET.fromstring(cib)) == []


def test_check_recommends_the_step_that_leaves_the_mn_running(runner, host1):
    runner.expect(ip_addr(), Call(["systemctl", "is-enabled", "xcatd.service"], rc=1, stdout="disabled\n"),
                  Call(["systemctl", "is-enabled", "xcatha-boot-cleanup.service"], stdout="enabled\n"),
                  Call(["cibadmin", "--query"], rc=102, stderr="Could not connect to the CIB: Transport endpoint "
                       "is not connected\n"),
                  Call(["systemctl", "is-enabled", "xcatha-backup.timer"], rc=1, stdout="disabled\n"),
                  Call(["cibadmin", "--query", "--scope", "nodes"], rc=102, stderr="Could not connect to the CIB: "
                       "Transport endpoint is not connected\n"),
                  SYNC_PATH_ENABLED, SYNC_PATH_WATCHING)
    fixes = [finding.fix for finding in preflight.check(host1)]
    assert "xcatha setup units (changes no running service)" in fixes
    assert not [fix for fix in fixes if "setup finish" in fix]


def test_check_reports_each_drift_the_peer_recorded_and_a_data_major_this_host_lacks(runner, host1, monkeypatch):
    from xcatha import file_sync, shared_data
    shared = host1.get("shared", "dir")
    facts = os.path.join(shared, ".xcatha-hosts")
    os.makedirs(facts)
    theirs = dict(json.loads(fixture("facts-host1.json")), host="host2", recorded=4102444800.0, clock_offset=3.0)
    theirs["xcat"] = theirs["xcat"].replace("2.19.0", "2.18.0")
    with open(os.path.join(facts, "host2.json"), "w") as stream:
        json.dump(theirs, stream)
    with open(os.path.join(facts, "host1.json"), "w") as stream:
        json.dump(dict(theirs, clock_offset=0.0), stream)
    datadir = os.path.join(shared, "var/lib/postgresql/15/main")
    os.makedirs(datadir)
    with open(os.path.join(datadir, "PG_VERSION"), "w") as stream:
        stream.write("16\n")
    monkeypatch.setattr(shared_data, "own_name", lambda: "host1")
    monkeypatch.setattr(units, "local_family", lambda: "debian")
    monkeypatch.setattr(units, "local_distro", lambda: "debian12")
    monkeypatch.setattr(units, "local_postgresql_version", lambda family: "15")
    runner.expect(ip_addr(), Call(["systemctl", "is-enabled", "xcatha-sync.path"], rc=1, stdout="disabled\n"))
    me, peer = activation.whoami(host1)
    found = {f.what: (f.level, f.fix) for f in preflight.parity_checks(host1, me, peer)
             + preflight.sync_checks(host1, me)}
    xcat_line = [what for what in found if what.startswith("xCAT differs")]
    assert xcat_line and found[xcat_line[0]][0] == preflight.FAIL
    assert found["the clocks of host1 and host2 are 3.0 s apart (each against the shared storage's clock, when last "
                 "recorded)"][0] == preflight.FAIL
    refused = "the database in %s is PostgreSQL 16 (PG_VERSION) but host1 has PostgreSQL 15; a data directory " \
              "moves to another major version only with pg_upgrade: the db start would refuse here" % datadir
    assert found[refused] == (preflight.FAIL, "install PostgreSQL 16 on host1")
    assert found["xcatha-sync.path is not enabled: changes of /etc/hosts /root/.ssh/id_* on the MN reach the shared "
                 "data only when it stops"][0] == preflight.WARN
    assert found["no file has been copied into %s yet" % file_sync.store_dir(shared)][0] == preflight.WARN


def test_check_on_the_mn_fails_a_file_that_was_not_pushed(runner, host1, tmp_path, monkeypatch):
    from xcatha import file_sync, shared_data
    shared = host1.get("shared", "dir")
    monkeypatch.setattr(shared_data, "own_name", lambda: "host1")
    shared_data.take_lease(shared)
    local = tmp_path / "root"
    (local / "etc").mkdir(parents=True)
    (local / "etc/hosts").write_text(fixture("hosts-host1.txt"))
    file_sync.push(shared, ("/etc/hosts",), "host1", root=str(local), lock=str(tmp_path / "lock"))
    assert open("/etc/hosts").read() != fixture("hosts-host1.txt")  # this host's differs from what was pushed
    runner.expect(ip_addr(), SYNC_PATH_ENABLED, SYNC_PATH_WATCHING)
    found = {f.what: (f.level, f.fix) for f in preflight.sync_checks(host1, activation.whoami(host1)[0])}
    assert found["/etc/hosts differs from the copy host1 pushed on the active MN: not pushed"] == (
        preflight.FAIL, "xcatha sync push (and check xcatha-sync.path)")


def test_check_fails_a_sync_path_unit_that_systemd_gave_up_on(runner, host1):
    """Enabled, but failed: what six quick edits did to it with the service's default start limit."""
    runner.expect(SYNC_PATH_ENABLED,
                  Call(SYNC_PATH_STATE, stdout="Result=unit-start-limit-hit\nActiveState=failed\n"))  # the lab's
    found = {f.what: (f.level, f.fix) for f in preflight.sync_checks(host1, None)}
    assert found == {"xcatha-sync.path is enabled but failed (unit-start-limit-hit): changes of /etc/hosts "
                     "/root/.ssh/id_* on this host no longer reach the shared data": (
                         preflight.FAIL, "systemctl reset-failed xcatha-sync.path xcatha-sync.service; "
                         "systemctl start xcatha-sync.path"),
                     "no file has been copied into %s/.xcatha-sync yet" % host1.get("shared", "dir"): (
                         preflight.WARN, "xcatha sync push on the active MN")}


def test_a_backup_older_than_two_days_is_a_warning(runner, host1, monkeypatch):
    import time
    monkeypatch.setattr(time, "time", lambda: 1795977363 + 3 * 86400)  # three days after the lab's backup
    runner.expect(Call(["systemctl", "is-enabled", "xcatha-backup.timer"], stdout="enabled\n"),
                  Call(["cibadmin", "--query", "--scope", "nodes"], stdout=fixture("cib-nodes-after-crash.xml")))
    findings = preflight._backup_findings(host1)
    assert findings[0].level == preflight.OK
    assert (findings[1].level, findings[1].what.split(" (")[0]) == (
        preflight.WARN, "the newest backup of the xCAT database is 3.0 days old")
    assert findings[1].fix == "journalctl -u xcatha-backup.service on the active MN; xcatha backup there"


def test_no_backup_at_all_is_a_warning(runner, host1):
    runner.expect(Call(["systemctl", "is-enabled", "xcatha-backup.timer"], rc=1, stdout="disabled\n"),
                  Call(["cibadmin", "--query", "--scope", "nodes"], stdout="<nodes/>\n"))
    findings = preflight._backup_findings(host1)
    assert [(f.level, f.fix) for f in findings] == [(preflight.WARN, "xcatha setup units"),
                                                    (preflight.WARN, "xcatha backup on the active MN")]
