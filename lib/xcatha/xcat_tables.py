"""The xCAT tables that must name the VIP, as xCAT's HA guide lists them, and the policy rows
of the certificates the pair presents.

Read with xCAT's own `tabdump` (through xcatd: only the active MN answers), changed with
`chtab`, one exact row at a time (a noderes row may be a group's).  A value is right when it
is the VIP (its address or names, or xCAT's <xcatmaster>) or empty (xCAT then uses the MN);
a host's own address or name is wrong: after a failover the nodes would ask a host that is
no longer the MN.  Any other value (a service node) is left to the admin, with a warning.

Both hosts run xcatd with the certificates in the shared data (/etc/xcat/cert,
/root/.xcat), so they present the same names: the server certificate's CN (the hostname
xcatconfig found when it made it) must be a `trusted` policy row, root's client
certificate's CN an `allow` one — what xcatconfig creates on a single MN.

`xcatha setup` sets what xcatha owns (site.master, those policy rows) and prints the
commands for the rest: networks and nodes are the admin's.
"""
import csv
import os
import re

from xcatha import run, xcat

SERVER_CERT = "/etc/xcat/cert/server-cred.pem"
CLIENT_CERT = "/root/.xcat/client-cred.pem"
NODERES_ATTRIBUTES = ("xcatmaster", "tftpserver", "nfsserver")
GRANTING = ("allow", "accept", "trusted")


class Unavailable(Exception):
    """xCAT does not answer here (not the active MN, or not installed)."""


def tabdump(table):
    """[{column: value}] of a table, through xCAT's tabdump."""
    path = xcat.path_of("tabdump")
    if path is None:
        raise Unavailable("xCAT is not installed here")
    try:
        result = run.run([path, table], env=xcat.environment(), timeout=60, quiet=True)
    except run.CommandTimeout:
        raise Unavailable("tabdump %s timed out" % table) from None
    if not result.ok:
        raise Unavailable("xCAT is not active on this host (tabdump: %s)" % result.last_error_line())
    lines = result.stdout.splitlines()
    if not lines or not lines[0].startswith("#"):
        raise Unavailable("tabdump %s printed no header" % table)
    header = lines[0][1:].split(",")
    return [dict(zip(header, row)) for row in csv.reader(lines[1:]) if row]


def certificate_name(path):
    """The CN of the certificate in path, or None when there is none."""
    if not os.path.exists(path):
        return None
    result = run.run(["openssl", "x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", path], timeout=30,
                     quiet=True)
    match = re.search(r"CN=([^,\s]+)", result.stdout) if result.ok else None
    return match.group(1) if match else None


class Names:
    """What the VIP and each host are called, to classify a table's value."""

    def __init__(self, config):
        self.vip = config.get("vip", "ip")
        self.vip_names = {self.vip, config.get("vip", "hostname"), config.get("vip", "fqdn"), "<xcatmaster>"}
        self.hosts = {}
        for node in config.nodes:
            for name in (node.name, node.name.split(".")[0], node.address):
                self.hosts[name] = node.name

    def classify(self, value):
        """'empty', 'vip', 'host:<name>' or 'other'."""
        value = value.strip()
        if not value:
            return "empty"
        if value in self.vip_names:
            return "vip"
        if value in self.hosts or value.split(".")[0] in self.hosts:
            return "host:" + self.hosts.get(value, self.hosts.get(value.split(".")[0]))
        return "other"


def _site(rows):
    return {row.get("key"): row.get("value", "") for row in rows}


def owned_changes(names, site, policy, cert_names):
    """The chtab commands (argv after chtab) for what xcatha owns: site.master, the policy rows."""
    changes = []
    if site.get("master", "") != names.vip:
        changes.append(["key=master", "site.value=%s" % names.vip])
    priorities = {row.get("priority") for row in policy}
    for cn, rule in cert_names:
        if _policy_rule(policy, cn) in ((rule,) if rule == "trusted" else GRANTING):
            continue
        existing = [row.get("priority") for row in policy if row.get("name") == cn and not row.get("disable")]
        priority = existing[0] if existing else next("1.%d" % n for n in range(21, 100)
                                                     if "1.%d" % n not in priorities)
        priorities.add(priority)
        changes.append(["priority=%s" % priority, "policy.name=%s" % cn, "policy.rule=%s" % rule])
    return changes


def _policy_rule(policy, cn):
    for row in policy:
        if row.get("name") == cn and not row.get("disable") and not row.get("commands"):
            return row.get("rule", "")
    return None


def read(config):
    """(names, site, networks, noderes, policy, [(cn, rule wanted)]); raises Unavailable."""
    names = Names(config)
    site = _site(tabdump("site"))
    networks, noderes, policy = tabdump("networks"), tabdump("noderes"), tabdump("policy")
    cert_names = []
    for path, rule in ((SERVER_CERT, "trusted"), (CLIENT_CERT, "allow")):
        cn = certificate_name(path)
        if cn:
            cert_names.append((cn, rule))
    return names, site, networks, noderes, policy, cert_names


def check(config):
    """[(level, what, fix)] for xcatha check."""
    from xcatha.preflight import FAIL, OK, WARN
    try:
        names, site, networks, noderes, policy, cert_names = read(config)
    except Unavailable as error:
        return [(OK, "xCAT's tables not checked here: %s (checked on the MN)" % error, "")]
    findings = []
    vip = names.vip
    master = site.get("master", "")
    if names.classify(master) == "vip":
        findings.append((OK, "site.master is the VIP", ""))
    else:
        findings.append((FAIL, "site.master is %s, not the VIP %s" % (master or "unset", vip),
                         "chtab key=master site.value=%s" % vip))
    servers = [server.strip() for server in site.get("nameservers", "").split(",") if server.strip()]
    kinds = [names.classify(server) for server in servers]
    if any(kind.startswith("host:") for kind in kinds) or "vip" not in kinds:
        wanted = [vip] + [server for server, kind in zip(servers, kinds) if kind == "other"]
        findings.append((FAIL, "site.nameservers is %s: the nodes must ask the VIP %s (makedns serves it there)"
                         % (site.get("nameservers") or "unset", vip),
                         "chtab key=nameservers site.value=%s" % ",".join(wanted)))
    else:
        findings.append((OK, "site.nameservers names the VIP", ""))
    rows = [("networks.tftpserver", "netname=%s" % row.get("netname"), row.get("netname"), "networks.tftpserver",
             row.get("tftpserver", "")) for row in networks]
    rows += [("noderes." + attribute, "node=%s" % row.get("node"), row.get("node"), "noderes." + attribute,
              row.get(attribute, "")) for row in noderes for attribute in NODERES_ATTRIBUTES]
    for column in ["networks.tftpserver"] + ["noderes." + attribute for attribute in NODERES_ATTRIBUTES]:
        mine = [row for row in rows if row[0] == column]
        wrong = [row for row in mine if names.classify(row[4]).startswith("host:")]
        other = [row for row in mine if names.classify(row[4]) == "other"]
        for label, key, what, _column, value in wrong:
            findings.append((FAIL, "%s of %s is %s, %s's own address or name, not the VIP" % (
                label, what, value, names.classify(value)[5:]), "chtab %s %s=%s" % (key, label, vip)))
        if other:
            findings.append((WARN, "%s names neither the VIP nor a host of the pair for %s (a service node?)"
                             % (column, ", ".join("%s=%s" % (row[2], row[4]) for row in other)),
                             "if not a service node: chtab %s %s=%s" % (other[0][1], column, vip)))
        if not wrong and not other:
            findings.append((OK, "%s is the VIP or empty in all %d row(s)" % (column, len(mine)), ""))
    for cn, rule in cert_names:
        have = _policy_rule(policy, cn)
        if have in ((rule,) if rule == "trusted" else GRANTING):
            findings.append((OK, "policy: the certificate name %s is %s" % (cn, have), ""))
        else:
            change = next(c for c in owned_changes(names, {"master": vip}, policy, [(cn, rule)]))
            findings.append((FAIL, "policy: the certificate name %s, which both hosts present, is %s" % (
                cn, "rule=%s, not %s" % (have, rule) if have is not None else "not in the policy table"),
                "chtab %s" % " ".join(change)))
    return findings


def apply_owned(config, out):
    """`xcatha setup`: set site.master and the certificates' policy rows; print the commands for
    the rest (networks, nodes, nameservers are the admin's)."""
    try:
        names, site, networks, noderes, policy, cert_names = read(config)
    except Unavailable as error:
        out("  xCAT's tables not checked: %s; run xcatha check on the MN" % error)
        return
    chtab = xcat.path_of("chtab")
    for change in owned_changes(names, site, policy, cert_names):
        result = run.run([chtab, *change], env=xcat.environment(), timeout=60)
        if not result.ok:
            out("  chtab %s failed: %s" % (" ".join(change), result.last_error_line()))
            continue
        out("  xCAT: chtab %s" % " ".join(change))
    from xcatha.preflight import OK
    rest = [finding for finding in check(config) if finding[0] != OK]
    for _level, what, fix in rest:
        out("  xCAT: %s; to fix it: %s" % (what, fix))
    if not rest:
        out("  xCAT: site.master, site.nameservers, networks.tftpserver, noderes and the policy rows are right "
            "for the pair")
