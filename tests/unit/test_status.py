"""xcatha status from crm_mon's XML, recorded in the two-node lab."""
import xml.etree.ElementTree as ET

import pytest

from xcatha import activation, status, vip

from .conftest import Call, fixture, ip_addr, pair_config


def crm_mon(name="crm_mon-two-nodes.xml"):
    return Call(["crm_mon", "--one-shot", "--output-as=xml"], stdout=fixture(name))


@pytest.fixture
def host1(tmp_path, monkeypatch):
    monkeypatch.setattr(vip, "static_hostname", lambda: "host1")
    # one unit is enough to see the boot-enabled row; which units exist depends on this host
    monkeypatch.setattr(activation, "service_units", lambda config: [("xcatd", "xcatd.service",
                                                                      ["xcatd.service"])])
    return pair_config(tmp_path)


def test_an_online_peer_shows_online(runner, host1):
    # Each <resource> has <node> children (where it runs), without an online attribute: they
    # must not make host2, online in <nodes>, look offline.
    runner.expect(ip_addr(), crm_mon(), Call(["cibadmin", "--query", "--scope", "nodes"], stdout="<nodes/>\n"),
                  Call(["systemctl", "is-enabled", "xcatd.service"], rc=1, stdout="disabled\n"))
    source, columns, table, notes, failover = status.collect(host1)
    assert (source, columns) == ("cluster", ["host1", "host2"])
    for member in ("vip", "shared-data", "db", "xcatd", "named", "dhcpd", "conserver"):
        assert table[member] == {"host1": "started", "host2": "stopped"}, member
    assert table["boot-enabled"]["host1"] == "none"
    assert notes == []
    assert failover == ["none recorded (the alert xcatha-alert records each one)"]


def test_a_failure_is_shown_on_the_node_crm_mon_names():
    root = ET.fromstring(fixture("crm_mon-failure.xml"))
    # the recorded failure is on host1, where xcatd runs; move it to host2 (a failed probe there)
    # and mark the resource failed, the way crm_mon shows a failure that blocks it
    root.find("failures/failure").set("node", "host2")
    next(r for r in root.iter("resource") if r.get("id") == "xcatd").set("failed", "true")
    table, failures, notes = status.cluster_rows(root, ["host1", "host2"])
    assert table["xcatd"] == {"host1": "started", "host2": "FAILED"}
    assert failures == ["xcatd_asyncmon_0 on host2: error (rc 1) Simulated failure"]


def test_a_recovered_failure_is_listed_not_painted_over_the_running_member():
    table, failures, _notes = status.cluster_rows(ET.fromstring(fixture("crm_mon-failure.xml")), ["host1", "host2"])
    assert table["xcatd"]["host1"] == "started"
    assert failures == ["xcatd_asyncmon_0 on host1: error (rc 1) Simulated failure"]


def test_config_names_pacemaker_does_not_know_are_reported_not_shown_offline():
    root = ET.fromstring(fixture("crm_mon-two-nodes.xml"))
    table, _failures, notes = status.cluster_rows(root, ["host1", "host2.cluster.lab"])
    assert table["vip"]["host2.cluster.lab"] == "?"
    assert notes == ["host2.cluster.lab (cluster.conf) is not a node Pacemaker knows (it knows: host1 host2): "
                     "use the same names as `crm_node -l`"]
