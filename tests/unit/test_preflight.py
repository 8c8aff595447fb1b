"""xcatha check, with the runner scripted: it reads the pair and the cluster and writes nothing."""
import json
import os
import socket

import pytest

from xcatha import activation, parity, preflight, units, vip, xcat

from .conftest import Call, fixture, ip_addr, pair_config

QUIET = ["--query", "--quiet"]
SYNC_PATH_ENABLED = Call(["systemctl", "is-enabled", "xcatha-sync.path"], stdout="enabled\n")


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


def test_check_writes_nothing(runner, host1):
    shared = host1.get("shared", "dir")
    runner.expect(
        ip_addr(),
        Call(["systemctl", "is-enabled", "xcatd.service"], rc=1, stdout="disabled\n"),
        Call(["systemctl", "is-enabled", "xcatha-boot-cleanup.service"], stdout="enabled\n"),
        Call(["cibadmin", "--query"], stdout=fixture("cib.xml")),
        # the peer's recorded version is read; ours is not written (no crm_attribute --update)
        Call(["crm_attribute", "--node", "host2", "--name", "xcatha-version-xcat", *QUIET, "--lifetime",
              "forever"], stdout="Version 2.19.0\n"),
        Call(["crm_attribute", "--type", "crm_config", "--name", "stonith-enabled", *QUIET], stdout="true\n"),
        Call(["crm_resource", "--locate", "--resource", "fence-host1"],
             stdout="resource fence-host1 is running on: host2\n"),
        Call(["stonith_admin", "--history", "host1"], stdout=""),
        Call(["crm_resource", "--locate", "--resource", "fence-host2"],
             stdout="resource fence-host2 is running on: host1\n"),
        Call(["stonith_admin", "--history", "host2"],
             stdout="reboot of host2 successful: delegate=host1, client=stonith_admin.4103, origin=host1, "
                    "completed='2026-11-29 15:03:31Z'\n"),
        Call(["corosync-cmapctl", "-g", "quorum.two_node"], stdout="quorum.two_node (u8) = 1\n"),
        SYNC_PATH_ENABLED)
    findings = {finding.what: finding.level for finding in preflight.check(host1)}
    assert os.listdir(shared) == []
    assert findings["xcat is the same on both hosts (Version 2.19.0)"] == preflight.OK
    assert findings["fencing of host1 is configured (fence-host1) but never tested"] == preflight.WARN
    assert findings["host2 can be fenced (fence-host2) and has been, successfully"] == preflight.OK


def test_check_recommends_the_step_that_leaves_the_mn_running(runner, host1):
    runner.expect(ip_addr(), Call(["systemctl", "is-enabled", "xcatd.service"], rc=1, stdout="disabled\n"),
                  Call(["systemctl", "is-enabled", "xcatha-boot-cleanup.service"], stdout="enabled\n"),
                  Call(["cibadmin", "--query"], rc=102, stderr="Could not connect to the CIB: Transport endpoint "
                       "is not connected\n"), SYNC_PATH_ENABLED)
    fixes = [finding.fix for finding in preflight.check(host1)]
    assert "xcatha setup units (changes no running service)" in fixes
    assert not [fix for fix in fixes if "setup finish" in fix]
