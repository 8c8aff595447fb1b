"""Helpers over table rows shared by makedns, makedhcp and makeconservercf."""

import ipaddress
import socket

from . import XcatError

MGMT_GROUP = "__mgmtnode"     # xcatconfig puts the MN itself in this node group


def network_of(row):
    """ipaddress network of a networks-table row (net + dotted mask)."""
    try:
        return ipaddress.IPv4Network("%s/%s" % (row["net"], row["mask"]))
    except (ValueError, TypeError):
        raise XcatError("networks table entry %s has an invalid net/mask %s/%s"
                        % (row["netname"], row["net"], row["mask"])) from None


def dynamic_range(row):
    """(first, last) of networks.dynamicrange 'a-b', or None."""
    if not row.get("dynamicrange"):
        return None
    try:
        first, last = (ipaddress.IPv4Address(a.strip()) for a in row["dynamicrange"].split("-"))
    except ValueError:
        raise XcatError("networks table entry %s has an invalid dynamicrange %s"
                        % (row["netname"], row["dynamicrange"])) from None
    return first, last


def fqdn(name, domain):
    return (name if "." in name else "%s.%s" % (name, domain)).rstrip(".") + "."


def in_group(node, group):
    return group in (node.get("groups") or "").split(",")


def master_name(site, nodes):
    """Host name of the MN: the node holding site.master (preferably in
    __mgmtnode), else this host's short name, as xCAT uses `hostname`."""
    master = site.get("master")
    holders = [n for n in nodes if n.get("ip") == master]
    holders.sort(key=lambda n: not in_group(n, MGMT_GROUP))
    return holders[0]["name"] if holders else socket.gethostname().split(".")[0]


def nameservers(site):
    """DNS servers handed to nodes: site.nameservers, else site.master."""
    value = site.get("nameservers") or site.get("master") or ""
    return [s.strip() for s in value.split(",") if s.strip()]
