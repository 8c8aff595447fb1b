"""The Pacemaker alert agent (/usr/share/xcatha/alert): one syslog line per failover of the group.

Pacemaker calls the agent for every node, fencing and resource event, with CRM_alert_*
variables (Pacemaker Explained, "Alerts"); a failover is some twenty of them on two
nodes.  The agent acts on one only: the successful start of the group's last member,
which runs on the node the group now runs on.  The group moved when it last completed
its start on the other node: each completion is recorded as the permanent node attribute
xcatha-group-started (epoch), so an in-place restart is no failover.  Before any is
recorded (the alert was just configured), the old node's stops or fencing in Pacemaker's
history tell a move from the cluster's first start.  Why it moved is read from Pacemaker's own history at that moment
(crm_mon's XML: fence history, failed actions, operation history, node states):
fencing of the old node, a failed resource there, the old node leaving or on standby,
else a planned move.

The line goes to syslog (tag xcatha-alert, facility daemon); the summary with its
timeline is kept in the CIB as the permanent node attribute xcatha-last-failover,
which `xcatha status` shows and which outlives reboots and log rotation.  With the
alert's option `mail_to` (cluster.conf [alert] recipient) it is also mailed with
sendmail.  The agent runs as hacluster: it only reads the cluster's state and writes
these two attributes.  It never fails Pacemaker's alert: problems are logged.
"""
import json
import os
import re
import time

from xcatha import cluster_config, run

PATH = "/usr/share/xcatha/alert"
ALERT_ID = "xcatha-alert"
STARTED = "xcatha-group-started"
LAST = "xcatha-last-failover"
TAG = "xcatha-alert"
SENDMAIL = "/usr/sbin/sendmail"
WINDOW = 900  # how far back a failover's events are looked for
FAILURE_LEAD = 120  # a failure counts as the cause when it came at most this long before the first stop/start


def completes_start(env):
    """True for the event that ends a start of the group: its last member started fine."""
    return (env.get("CRM_alert_kind") == "resource" and env.get("CRM_alert_rsc") == cluster_config.MEMBERS[-1]
            and env.get("CRM_alert_task") == "start" and env.get("CRM_alert_rc") == "0"
            and env.get("CRM_alert_status", "0") == "0" and env.get("CRM_alert_target_rc", "0") == "0")


def node_attributes(nodes_xml):
    """{node: {name: value}} of the permanent node attributes in `cibadmin --query --scope nodes`."""
    import xml.etree.ElementTree as ET
    attributes = {}
    for node in ET.fromstring(nodes_xml).iter("node"):  # noqa: S314 - our own cluster's CIB
        values = attributes.setdefault(node.get("uname"), {})
        for nvpair in node.iter("nvpair"):
            values[nvpair.get("name")] = nvpair.get("value", "")
    return attributes


def _float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


TIME_FORMATS = ("%a %b %d %H:%M:%S %Y", "%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%SZ", "%Y-%m-%d %H:%M:%S")


def parse_time(text):
    """crm_mon's time stamps (they differ between its sections) as epoch seconds, or None."""
    import calendar
    text = (text or "").strip()
    text = re.sub(r"(\d\d:\d\d:\d\d)\.\d+", r"\1", text)
    text = re.sub(r" ([+-]\d\d):(\d\d)$", r" \1\2", text)
    for pattern in TIME_FORMATS:
        try:
            parsed = time.strptime(text, pattern)
        except ValueError:
            continue
        if pattern.endswith("%z") or pattern.endswith("Z"):
            offset = re.search(r"([+-])(\d\d)(\d\d)$", text)
            seconds = calendar.timegm(parsed)
            if offset:
                sign = 1 if offset.group(1) == "+" else -1
                seconds -= sign * (int(offset.group(2)) * 3600 + int(offset.group(3)) * 60)
            return float(seconds)
        return time.mktime(parsed)
    return None


def history(crm_mon_xml, old, new, now, started_there=0.0):
    """(cause, [(epoch, event)]) of the group's move from old to new, from crm_mon's XML.  Only
    what came after the group last started on old (started_there) belongs to this move: an
    earlier fencing or failure was the cause of the move before."""
    import xml.etree.ElementTree as ET
    root = ET.fromstring(crm_mon_xml)  # noqa: S314 - our own cluster's status
    since = max(now - WINDOW, started_there)
    events, stops_starts, fences, failures = [], [], [], []
    for event in root.iter("fence_event"):
        when = parse_time(event.get("completed"))
        if event.get("target") == old and event.get("status") == "success" and when and when >= since:
            text = "%s fenced (%s) by %s" % (old, event.get("action"), event.get("delegate") or event.get("origin"))
            fences.append((when, text))
    for node in root.iter("node"):
        name = node.get("name")
        for resource in node.findall("resource_history"):
            if resource.get("id") not in cluster_config.MEMBERS:
                continue
            for op in resource.findall("operation_history"):
                task, when = op.get("task"), parse_time(op.get("last-rc-change"))
                if when is None or when < since or (task, name) not in (("stop", old), ("start", new)):
                    continue
                stops_starts.append((when, "%s %s on %s: %s" % (resource.get("id"), task, name,
                                                                 op.get("rc_text") or op.get("rc"))))
    first = min([when for when, _text in stops_starts], default=now)
    for failure in root.iter("failure"):
        when = parse_time(failure.get("last-rc-change"))
        if failure.get("node") == old and when and max(first - FAILURE_LEAD, since) <= when <= now:
            op = failure.get("op_key", "").rsplit("_", 2)
            what = "%s %s" % (op[0], op[1]) if len(op) == 3 else failure.get("op_key")
            failures.append((when, "%s failed on %s: %s%s" % (what, old, failure.get("exitstatus"),
                                                            " (%s)" % failure.get("exitreason")
                                                            if failure.get("exitreason") else "")))
    states = {node.get("name"): node for node in root.iterfind("nodes/node")}
    old_state = states.get(old)
    events = sorted(fences + failures + stops_starts)
    if fences:
        cause = "fencing: " + fences[-1][1]
    elif failures:
        cause = "failed resource: " + failures[0][1]
    elif old_state is not None and old_state.get("online") != "true":
        cause = "%s left the cluster" % old
    elif old_state is not None and old_state.get("standby") == "true":
        cause = "planned move: %s is in standby" % old
    elif not any(" stop on %s:" % old in text for _when, text in stops_starts):
        cause = "started here when the cluster started (it ran on %s before)" % old
    else:
        cause = "planned move (pcs resource move, or a constraint or preference changed)"
    return cause, events


def summary(record):
    began, done = time.localtime(record["began"]), time.localtime(record["done"])
    return "failover: %s moved from %s to %s in %.0f s (%s to %s); cause: %s" % (
        cluster_config.GROUP, record["from"], record["to"], record["done"] - record["began"],
        time.strftime("%Y-%m-%d %H:%M:%S", began), time.strftime("%H:%M:%S", done), record["cause"])


def handle(env, now=None):
    """Act on one alert; returns the failover record when this event completed one, else None."""
    if not completes_start(env):
        return None
    me = env.get("CRM_alert_node")
    now = now or _float(env.get("CRM_alert_timestamp_epoch")) or time.time()
    nodes = run.run(["cibadmin", "--query", "--scope", "nodes"], timeout=20, quiet=True)
    if not nodes.ok:
        raise RuntimeError("cibadmin --query --scope nodes: %s" % nodes.last_error_line())
    attributes = node_attributes(nodes.stdout)
    mine = _float(attributes.get(me, {}).get(STARTED)) or 0.0
    before = [(_float(values.get(STARTED)) or 0.0, name) for name, values in attributes.items() if name != me]
    last_elsewhere, old = max(before, default=(0.0, None))
    _set(me, STARTED, str(int(now)))
    if old is None or (last_elsewhere <= mine and (mine or last_elsewhere)):
        return None  # a restart in place, or no other node
    status = run.run(["crm_mon", "--one-shot", "--output-as=xml"], timeout=20, quiet=True)
    cause, events = (history(status.stdout, old, me, now, last_elsewhere) if status.ok
                     else ("unknown (crm_mon failed)", []))
    if not (mine or last_elsewhere) and not [text for _when, text in events if old in text]:
        return None  # nothing recorded yet (the alert is new) and the old node did nothing: the first start
    if not any(text.startswith("%s start on %s" % (cluster_config.MEMBERS[-1], me)) for _when, text in events):
        events.append((now, "%s start on %s: ok" % (cluster_config.MEMBERS[-1], me)))
    record = {"from": old, "to": me, "cause": cause, "done": now,
              "began": min(when for when, _text in events), "timeline": [[round(w, 1), t] for w, t in events]}
    _syslog(summary(record))
    _set(me, LAST, json.dumps(record, separators=(",", ":")))
    if env.get("mail_to"):
        mail(env["mail_to"], record)
    return record


def _set(node, name, value):
    result = run.run(["crm_attribute", "--node", node, "--name", name, "--update", value, "--lifetime", "forever"],
                     timeout=20, quiet=True)
    if not result.ok:
        _syslog("cannot record %s on %s: %s" % (name, node, result.last_error_line()))


def _syslog(line):
    import syslog
    syslog.openlog(TAG, 0, syslog.LOG_DAEMON)
    syslog.syslog(syslog.LOG_WARNING, line)


def render_timeline(record):
    return ["  %s  %s" % (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when)), text)
            for when, text in record.get("timeline", [])]


def mail(recipients, record):
    addresses = [address for address in re.split(r"[,\s]+", recipients) if address]
    text = "To: %s\nSubject: xcatha: %s moved from %s to %s\n\n%s\n\n%s\n" % (
        ", ".join(addresses), cluster_config.GROUP, record["from"], record["to"], summary(record),
        "\n".join(render_timeline(record)))
    try:
        result = run.run([SENDMAIL, "-t", "-oi"], input=text, timeout=30, quiet=True)
    except FileNotFoundError:
        _syslog("no mail to %s: %s is not installed (an MTA provides it)" % (", ".join(addresses), SENDMAIL))
        return
    if not result.ok:
        _syslog("mail to %s failed: %s" % (", ".join(addresses), result.last_error_line()))


def last_failover(nodes_xml):
    """The newest failover record any node holds, or None."""
    records = []
    for values in node_attributes(nodes_xml).values():
        try:
            records.append(json.loads(values[LAST]))
        except (KeyError, ValueError):
            continue
    return max(records, key=lambda record: record.get("done", 0), default=None)


def main():
    """The entry point Pacemaker runs: never fails the alert, says why in syslog."""
    try:
        handle(dict(os.environ))
    except Exception as error:  # noqa: BLE001 - an alert agent must not fail; the reason goes to syslog
        _syslog("alert on %s not handled: %s" % (os.environ.get("CRM_alert_rsc") or os.environ.get("CRM_alert_kind"),
                                                 error))
    return 0
