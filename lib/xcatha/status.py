"""One table of the pair: where the VIP is, links, each service, boot-enabled flags,
failed actions with their exit reasons.  The cluster's view when a cluster runs here;
otherwise this host's own checks (the agents' monitors) and who answers for the VIP."""
import ipaddress
import xml.etree.ElementTree as ET

from xcatha import activation, cluster_config, run, shared_data, units, vip

ROWS = ("vip", "shared-data", "db", "xcatd", "named", "dhcpd", "conserver", "http")


def cluster_view():
    """crm_mon's XML, or None when no cluster runs here."""
    try:
        result = run.run(["crm_mon", "--one-shot", "--output-as=xml"], timeout=30, quiet=True)
    except (FileNotFoundError, run.CommandTimeout):
        return None
    if not result.ok:
        return None
    return ET.fromstring(result.stdout)  # noqa: S314 - our own cluster's status


def collect(config):
    me = cluster_config.local_node(config, _addresses(), vip.static_hostname() or "")
    peer = cluster_config.peer_of(config, me)
    columns = [me.name, peer.name]
    table = {row: {} for row in ROWS + ("links", "boot-enabled")}
    failures = []
    root = cluster_view()
    source = "cluster" if root is not None else "local"
    if root is not None:
        online = {n.get("name"): n.get("online") == "true" for n in root.iter("node") if n.get("name")}
        for resource in root.iter("resource"):
            name = resource.get("id")
            if name in ROWS:
                where = [n.get("name") for n in resource.iter("node")]
                for column in columns:
                    table[name][column] = ("started" if column in where and resource.get("active") == "true"
                                           else "stopped" if online.get(column) else "offline")
                if resource.get("failed") == "true":
                    table[name][where[0] if where else me.name] = "FAILED"
        for failure in root.iter("failure"):
            failures.append("%s on %s: %s (rc %s) %s" % (failure.get("op_key"), failure.get("node"),
                                                       failure.get("exitstatus"), failure.get("exitcode"),
                                                       failure.get("exitreason") or ""))
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
    return source, columns, table, failures


def _addresses():
    return {info.get("local") for link in vip.read_links() for info in link.get("addr_info", [])}


def _vip_holder(config):
    """'self', 'other' (a host answers ARP probes for it) or 'nobody'."""
    address = ipaddress.ip_address(config.get("vip", "ip"))
    links = vip.read_links()
    if vip.find(address, links):
        return "self"
    nic = config.get("vip", "nic") or vip.derive_nic(address, links)[0]
    if nic and address.version == 4:
        try:
            return "other" if vip.arp_probe(nic, address, wait=0.3) else "nobody"
        except OSError:
            return "unknown"
    return "unknown"


def render(source, columns, table, failures):
    width = max(len(row) for row in table) + 2
    lines = ["%-*s %-24s %s" % (width, "(%s view)" % source, columns[0] + " (this host)", columns[1])]
    for row, cells in table.items():
        lines.append("%-*s %-24s %s" % (width, row, cells.get(columns[0], "-"), cells.get(columns[1], "-")))
    if failures:
        lines.append("failed actions:")
        lines.extend("  " + failure for failure in failures)
    return "\n".join(lines)
