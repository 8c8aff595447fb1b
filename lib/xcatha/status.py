"""One table of the pair: where the VIP is, links, each service, boot-enabled flags,
failed actions with their exit reasons.  The cluster's view when a cluster runs here;
otherwise this host's own checks (the agents' monitors) and who answers for the VIP."""
import ipaddress
import xml.etree.ElementTree as ET

from xcatha import activation, cluster_config, run, shared_data, units, vip

ROWS = cluster_config.MEMBERS


def cluster_view():
    """crm_mon's XML, or None when no cluster runs here."""
    try:
        result = run.run(["crm_mon", "--one-shot", "--output-as=xml"], timeout=30, quiet=True)
    except (FileNotFoundError, run.CommandTimeout):
        return None
    if not result.ok:
        return None
    try:
        return ET.fromstring(result.stdout)  # noqa: S314 - our own cluster's status
    except ET.ParseError as error:
        raise cluster_config.ConfigError("crm_mon's XML cannot be read: %s" % error) from None


def _resource_of(op_key):
    """'xcatd_monitor_10000' -> 'xcatd' (an id may itself hold underscores)."""
    parts = op_key.rsplit("_", 2)
    return parts[0] if len(parts) == 3 else op_key


def cluster_rows(root, columns):
    """The members' cells per configured node, the failed actions and the notes, from crm_mon's XML.

    Only <nodes>/<node> says who is online: a <resource> has <node> children too (where it
    runs), and so does <node_history>."""
    nodes = root.find("nodes")
    online = {node.get("name"): node.get("online") == "true"
              for node in (nodes.findall("node") if nodes is not None else [])}
    notes = []
    for column in columns:
        if column not in online:
            notes.append("%s (cluster.conf) is not a node Pacemaker knows (it knows: %s): use the same names "
                         "as `crm_node -l`" % (column, " ".join(sorted(online)) or "none"))
    table = {row: {} for row in ROWS}
    for resource in root.iter("resource"):
        name = resource.get("id")
        if name not in table:
            continue
        where = [node.get("name") for node in resource.findall("node")]
        for column in columns:
            if column not in online:
                table[name][column] = "?"
            elif column in where and resource.get("active") == "true":
                table[name][column] = "started"
            else:
                table[name][column] = "stopped" if online[column] else "offline"
    failed = {resource.get("id") for resource in root.iter("resource") if resource.get("failed") == "true"}
    failures = []
    for failure in root.iter("failure"):
        name, node = _resource_of(failure.get("op_key", "")), failure.get("node")
        if name in failed and name in table and node in columns:
            table[name][node] = "FAILED"  # where crm_mon says it failed, not where it runs
        failures.append("%s on %s: %s (rc %s) %s" % (failure.get("op_key"), node, failure.get("exitstatus"),
                                                   failure.get("exitcode"), failure.get("exitreason") or ""))
    return table, failures, notes


def collect(config):
    me, peer = activation.whoami(config)
    columns = [me.name, peer.name]
    table = {row: {} for row in ROWS + ("links", "boot-enabled")}
    failures, notes, failover = [], [], []
    root = cluster_view()
    source = "cluster" if root is not None else "local"
    if root is not None:
        members, failures, notes = cluster_rows(root, columns)
        table.update(members)
        failover = last_failover()
    else:
        for name, params in cluster_config.resource_params(config).items():
            rc, reason = activation.run_agent(name, "monitor", params, probe=True)
            table[name][me.name] = {0: "started", 7: "stopped"}.get(rc, "FAILED: %s" % reason)
            table[name][peer.name] = "?"
        holder = _vip_holder(config)
        table["vip"][peer.name] = "holds it" if holder == "other" else "-"
    shared_dir = config.get("shared", "dir")
    dirs = shared_data.default_dirs(config.get("database", "engine"))
    linked = [d for d in dirs if shared_data.link_state(shared_dir, d) == "linked"]
    table["links"][me.name] = "%d/%d" % (len(linked), len(dirs))
    enabled = [unit for _s, _u, boot in activation.service_units(config) for unit in units.enabled_units(boot)]
    table["boot-enabled"][me.name] = " ".join(enabled) or "none"
    return source, columns, table, failures + notes, failover


def last_failover():
    """The last failover and its timeline, as the alert agent kept it in the CIB (lines)."""
    from xcatha import alert
    result = run.run(["cibadmin", "--query", "--scope", "nodes"], timeout=30, quiet=True)
    record = alert.last_failover(result.stdout) if result.ok else None
    if record is None:
        return ["none recorded (the alert %s records each one)" % cluster_config.ALERT_ID]
    return [alert.summary(record)] + alert.render_timeline(record)


def _vip_holder(config):
    """'self', 'other' (a host answers ARP probes for it) or 'nobody'."""
    address = ipaddress.ip_address(config.get("vip", "ip"))
    links = vip.read_links()
    if vip.find(address, links):
        return "self"
    nic = config.get("vip", "nic") or vip.derive_nic(address, links)[0]
    if nic and address.version == 4:
        try:
            return "other" if vip.arp_probe(nic, address) else "nobody"
        except OSError:
            return "unknown"
    return "unknown"


def render(source, columns, table, failures, failover=()):
    width = max(len(row) for row in table) + 2
    lines = ["%-*s %-24s %s" % (width, "(%s view)" % source, columns[0] + " (this host)", columns[1])]
    for row, cells in table.items():
        lines.append("%-*s %-24s %s" % (width, row, cells.get(columns[0], "-"), cells.get(columns[1], "-")))
    if failures:
        lines.append("failed actions and notes:")
        lines.extend("  " + failure for failure in failures)
    if failover:
        lines.append("last failover:")
        lines.extend("  " + line for line in failover)
    return "\n".join(lines)
