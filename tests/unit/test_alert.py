"""The alert agent: one syslog line per failover, its cause and timeline from Pacemaker's history.

The CIB's nodes section and crm_mon's XML were recorded in the lab after a planned move
(host1 -> host2) and after host2 crashed and was fenced (-> host1); the nodes section as the
agent found it before it ran is that recording without the attributes the agent wrote."""
import json
import re

import pytest

from xcatha import alert, status

from .conftest import Call, fixture

NODES = ["cibadmin", "--query", "--scope", "nodes"]
CRM_MON = ["crm_mon", "--one-shot", "--output-as=xml"]


def event(node, epoch, rsc="http", task="start", rc="0", **more):
    env = {"CRM_alert_version": "2.1.5", "CRM_alert_kind": "resource", "CRM_alert_node": node,
           "CRM_alert_rsc": rsc, "CRM_alert_task": task, "CRM_alert_rc": rc, "CRM_alert_status": "0",
           "CRM_alert_target_rc": "0", "CRM_alert_interval": "0", "CRM_alert_desc": "ok",
           "CRM_alert_timestamp_epoch": str(epoch)}
    env.update(more)
    return env


def nodes_before(**started):
    """The recorded nodes section without the agent's attributes, with xcatha-group-started as given."""
    text = re.sub(r'\s*<nvpair id="nodes-\d-xcatha-(group-started|last-failover)"[^>]*/>', "",
                  fixture("cib-nodes-after-crash.xml"))
    for node, value in started.items():
        number = node[-1]
        text = text.replace('<instance_attributes id="nodes-%s">' % number,
                            '<instance_attributes id="nodes-%s">\n      <nvpair id="nodes-%s-xcatha-group-started" '
                            'name="xcatha-group-started" value="%d"/>' % (number, number, value))
    return text


def record(node, name, value):
    return Call(["crm_attribute", "--node", node, "--name", name, "--update", value, "--lifetime", "forever"])


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    """crm_mon's operation history is in the node's local time; the lab's nodes ran in UTC."""
    import time
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def syslog(monkeypatch):
    lines = []
    monkeypatch.setattr(alert, "_syslog", lines.append)
    return lines


@pytest.mark.parametrize("env", [
    event("host2", 1795977246, rsc="conserver"),
    event("host2", 1795977249, task="monitor"),
    event("host1", 1795977203, task="stop"),
    event("host2", 1795977249, rc="1"),
    {"CRM_alert_kind": "fencing", "CRM_alert_node": "host2", "CRM_alert_task": "reboot", "CRM_alert_rc": "0"},
    {"CRM_alert_kind": "node", "CRM_alert_node": "host2", "CRM_alert_desc": "lost"},
])
def test_every_other_event_runs_nothing(runner, syslog, env):
    assert alert.handle(env) is None
    assert syslog == []


def test_a_crash_and_fencing_is_one_line_with_its_cause_and_timeline(runner, syslog):
    done = 1795977977
    runner.expect(Call(NODES, stdout=nodes_before(host2=1795977249)),
                  record("host1", "xcatha-group-started", str(done)),
                  Call(CRM_MON, stdout=fixture("crm_mon-after-crash.xml")),
                  record("host1", "xcatha-last-failover", json.dumps(
                      json.loads(re.search(r'name="xcatha-last-failover" value="([^"]*)"',
                                           fixture("cib-nodes-after-crash.xml")).group(1).replace("&quot;", '"')),
                      separators=(",", ":"))))
    result = alert.handle(event("host1", done))
    assert (result["from"], result["to"], result["cause"]) == ("host2", "host1",
                                                               "fencing: host2 fenced (reboot) by host1")
    assert result["timeline"][0] == [1795977933.0, "host2 fenced (reboot) by host1"]
    assert result["timeline"][-1] == [1795977977.0, "http start on host1: ok"]
    assert syslog == [alert.summary(result)]
    assert syslog[0].startswith("failover: xcatmn moved from host2 to host1 in 44 s (")
    assert syslog[0].endswith("; cause: fencing: host2 fenced (reboot) by host1")


def test_a_planned_move_before_anything_was_recorded_is_told_by_the_old_nodes_stops(runner, syslog):
    done = 1795977249
    runner.expect(Call(NODES, stdout=nodes_before()),
                  record("host2", "xcatha-group-started", str(done)),
                  Call(CRM_MON, stdout=fixture("crm_mon-after-move.xml")),
                  Call(["crm_attribute", "--node", "host2", "--name", "xcatha-last-failover", "--update"]))
    real_run = runner.run

    def any_value(argv, **kwargs):  # the record's JSON is compared below, not here
        if "xcatha-last-failover" in argv:
            argv = argv[:6]
        return real_run(argv, **kwargs)
    runner.run = any_value
    result = alert.handle(event("host2", done))
    assert result["cause"].startswith("planned move")
    assert [text for _when, text in result["timeline"]][:2] == ["conserver stop on host1: ok",
                                                                "http stop on host1: ok"]
    assert len(result["timeline"]) == 16 and result["done"] - result["began"] == 46
    assert len(syslog) == 1


def test_a_restart_in_place_is_no_failover(runner, syslog):
    runner.expect(Call(NODES, stdout=nodes_before(host1=1795977977, host2=1795977249)),
                  record("host1", "xcatha-group-started", "1795978500"))
    assert alert.handle(event("host1", 1795978500)) is None
    assert syslog == []


def test_the_clusters_first_start_is_no_failover(runner, syslog):
    runner.expect(Call(NODES, stdout=nodes_before()),
                  record("host1", "xcatha-group-started", "1795976650"),
                  Call(CRM_MON, stdout=fixture("crm_mon-before-move.xml")))
    assert alert.handle(event("host1", 1795976650)) is None
    assert syslog == []


def test_a_start_elsewhere_when_the_cluster_starts_says_so(runner, syslog):
    # recorded: the group's first start on host1; as if host2 had run it before the cluster stopped
    runner.expect(Call(NODES, stdout=nodes_before(host2=1795970000)),
                  record("host1", "xcatha-group-started", "1795976650"),
                  Call(CRM_MON, stdout=fixture("crm_mon-before-move.xml")),
                  Call(["crm_attribute", "--node", "host1", "--name", "xcatha-last-failover", "--update"]))
    real_run = runner.run
    runner.run = lambda argv, **kwargs: real_run(argv[:6] if "xcatha-last-failover" in argv else argv, **kwargs)
    result = alert.handle(event("host1", 1795976650))
    assert result["cause"] == "started here when the cluster started (it ran on host2 before)"
    assert syslog == [alert.summary(result)]


def test_mail_goes_to_the_configured_recipients(runner, syslog):
    runner.expect(Call(["/usr/sbin/sendmail", "-t", "-oi"]))
    real_run = runner.run
    sent = []

    def keep_input(argv, **kwargs):
        sent.append(kwargs.get("input"))
        return real_run(argv, **kwargs)
    runner.run = keep_input
    last = alert.last_failover(fixture("cib-nodes-after-crash.xml"))
    alert.mail("hpc@example.org, ops@example.org", last)
    assert sent[0].startswith("To: hpc@example.org, ops@example.org\nSubject: xcatha: xcatmn moved from host2 to "
                              "host1\n\nfailover: xcatmn moved from host2 to host1 in 44 s")
    assert "host2 fenced (reboot) by host1" in sent[0]


def test_a_missing_sendmail_is_said_in_syslog(runner, syslog):
    runner.expect(Call(["/usr/sbin/sendmail", "-t", "-oi"], raises=FileNotFoundError()))
    alert.mail("hpc@example.org", alert.last_failover(fixture("cib-nodes-after-crash.xml")))
    assert syslog == ["no mail to hpc@example.org: /usr/sbin/sendmail is not installed (an MTA provides it)"]


def test_status_shows_the_newest_failover_and_its_timeline(runner):
    runner.expect(Call(NODES, stdout=fixture("cib-nodes-after-crash.xml")))
    lines = status.last_failover()
    assert lines[0].startswith("failover: xcatmn moved from host2 to host1 in 44 s")
    assert lines[1].endswith("  host2 fenced (reboot) by host1")
    assert lines[-1].endswith("  http start on host1: ok") and len(lines) == 10


def test_status_without_a_failover_says_so(runner):
    runner.expect(Call(NODES, stdout="<nodes/>\n"))
    assert status.last_failover() == ["none recorded (the alert xcatha-alert records each one)"]


def test_a_failed_resource_on_the_old_node_is_the_cause():
    # recorded after `crm_resource --fail --resource xcatd --node host1` (fixtures/README.md)
    failed = alert.parse_time("2026-11-29 15:03:17Z")
    cause, events = alert.history(fixture("crm_mon-failure.xml"), "host1", "host2", failed + 40)
    assert cause == "failed resource: xcatd asyncmon failed on host1: error (Simulated failure)"
    assert events == [(failed, "xcatd asyncmon failed on host1: error (Simulated failure)")]
    # long before the move, the same failure is no cause
    cause, _events = alert.history(fixture("crm_mon-failure.xml"), "host1", "host2", failed + 3600)
    assert not cause.startswith("failed resource")


def test_a_fencing_before_the_group_last_started_on_the_old_node_is_no_cause():
    """Seen in the cluster tier: a planned move 111 s after host1 was fenced (and the group had
    started on host1 again since) was announced as caused by that fencing."""
    fenced = 1795977933.0   # host2 fenced in the recorded crash, then the group started on host1
    cause, events = alert.history(fixture("crm_mon-after-crash.xml"), "host2", "host1", fenced + 44)
    assert cause.startswith("fencing: ")
    cause, events = alert.history(fixture("crm_mon-after-crash.xml"), "host2", "host1", fenced + 44,
                                  started_there=fenced + 1)
    assert not cause.startswith("fencing: ") and all("fenced" not in text for _when, text in events)
