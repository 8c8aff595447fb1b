"""The two groups the bench compares, in the same cluster, one at a time.

- ``xcatmn``: ours, as `xcatha cluster-config apply` creates it (pair.build): in the
  default parallel layout the group holds vip..xcatd and the other services run beside
  it (colocated, ordered after it); members lists them all.
- ``xcatstock``: xCAT's documented Pacemaker recipe built from stock
  resource-agents: IPaddr2, one ocf:heartbeat:symlink per shared directory,
  ocf:heartbeat:pgsql, systemd:xcatd, ocf:heartbeat:named, ocf:heartbeat:dhcpd,
  systemd:conserver-server.  pcs gives every member its agent's advertised
  operations (timeouts, monitor intervals), as it does for ours.

The stock recipe regenerates nothing: named.conf, dhcpd.conf (with the DHCP host
entries in the node's own leases file) and conserver.cf must already be on each node,
as our group leaves them there after it ran on it.
"""
import time
from dataclasses import dataclass, field

from lab import pair
from lab.util import log

SHARED_DIR = "/HA-data"
LINKED_DIRS = ("/install", "/etc/xcat", "/root/.xcat", "/tftpboot", "/var/lib/postgresql", "/etc/postgresql")
BACKUP_SUFFIX = ".xcatha-local"  # what the boot clean-up puts back after a crash, as for ours
PG = "/usr/lib/postgresql/15"


@dataclass
class Group:
    name: str
    members: tuple            # resource ids in start order
    counterparts: dict = field(default_factory=dict)  # our agent -> its stock resource ids

    def __str__(self):
        return self.name


OURS = Group("xcatmn", pair.MEMBERS)


def symlink_id(directory):
    return "link" + directory.replace("/", "-").replace(".", "")


def stock_resources(cfg):
    """(id, agent, params) of the stock recipe in start order, for the lab's addresses."""
    fqdn = "%s.%s" % (cfg.vip_name, cfg.domain)
    resources = [("ip", "ocf:heartbeat:IPaddr2", {"ip": cfg.vip, "cidr_netmask": "24", "nic": "eth0"})]
    resources += [(symlink_id(directory), "ocf:heartbeat:symlink",
                   {"link": directory, "target": SHARED_DIR + directory, "backup_suffix": BACKUP_SUFFIX})
                  for directory in LINKED_DIRS]
    resources += [
        ("pgsql", "ocf:heartbeat:pgsql", {
            "pgctl": PG + "/bin/pg_ctl", "pgdata": "/var/lib/postgresql/15/main",
            "config": "/etc/postgresql/15/main/postgresql.conf", "socketdir": "/var/run/postgresql",
            "psql": "/usr/bin/psql"}),
        ("xcatd-unit", "systemd:xcatd", {}),
        ("named-stock", "ocf:heartbeat:named", {
            "named_user": "bind", "named_config": "/etc/bind/named.conf", "named_pidfile": "/run/named/named.pid",
            "monitor_request": fqdn, "monitor_response": cfg.vip, "monitor_ip": cfg.vip}),
        # Non-chrooted, the agent reads `leases` relative to chrooted_path (default /var/lib/dhcp):
        # leases=dhcpd.leases is /var/lib/dhcp/dhcpd.leases, where makedhcp -a left the host entries.
        # Debian's dhcpd runs as root (its init script passes no -user).
        ("dhcpd-stock", "ocf:heartbeat:dhcpd", {
            "config": "/etc/dhcp/dhcpd.conf", "chrooted": "false", "interface": "eth0", "leases": "dhcpd.leases",
            "pid": "/run/dhcpd.pid", "user": "root", "group": "root"}),
        ("conserver-unit", "systemd:conserver-server", {}),
        # xCAT's DRBD recipe runs Apache as ocf:heartbeat:apache (apache_xCAT)
        ("apache-stock", "ocf:heartbeat:apache", {"configfile": "/etc/apache2/apache2.conf",
                                                  "statusurl": "http://localhost/install/postscripts/"}),
    ]
    return resources


def stock_group(cfg):
    resources = stock_resources(cfg)
    counterparts = {"vip": ["ip"], "shared-data": [symlink_id(d) for d in LINKED_DIRS], "db": ["pgsql"],
                    "xcatd": ["xcatd-unit"], "named": ["named-stock"], "dhcpd": ["dhcpd-stock"],
                    "conserver": ["conserver-unit"], "http": ["apache-stock"]}
    return Group("xcatstock", tuple(rid for rid, _, _ in resources), counterparts)


# ---------------------------------------------------------------- switching
def present(lab, group):
    """True when the group is configured in the CIB."""
    node = pair.any_running_node(lab)
    return node.exec(["cibadmin", "--query", "--xpath", "//group[@id='%s']" % group.name],
                     timeout=30).returncode == 0


def remove(lab, group, timeout=180):
    """Stop the group everywhere, then delete it and its members (the fence devices stay)."""
    node = pair.any_running_node(lab)
    log.info("bench: stopping and deleting group %s", group)
    check(node.exec(["pcs", "resource", "disable", group.name, "--wait=%d" % timeout], timeout=timeout + 30),
          "pcs resource disable %s" % group)
    check(node.exec(["pcs", "resource", "delete", group.name], timeout=120), "pcs resource delete %s" % group)
    # our parallel layout keeps the services beside the group (colocated with it): they stopped
    # with it, and go now (pcs drops the constraints that name them)
    for member in group.members:
        if node.exec(["cibadmin", "--query", "--xpath", "//primitive[@id='%s']" % member], timeout=30).returncode == 0:
            check(node.exec(["pcs", "resource", "delete", member], timeout=120), "pcs resource delete %s" % member)


def create_ours(lab):
    node = pair.any_running_node(lab)
    check(node.exec(["xcatha", "cluster-config", "apply", "-c", pair.NODE_CONFIG], timeout=300),
          "xcatha cluster-config apply")


def create_stock(lab):
    """The stock recipe as one CIB change (pcs -f on a copy, then cib-push), with the same
    group meta attributes as ours (stickiness, migration threshold, failure timeout)."""
    node = pair.any_running_node(lab)
    script = ["set -e", "f=$(mktemp)", "pcs cluster cib $f", "cp $f $f.orig"]
    for rid, agent, params in stock_resources(lab.cfg):
        options = " ".join("%s=%s" % item for item in params.items())
        script.append("pcs -f $f resource create %s %s %s --group xcatstock" % (rid, agent, options))
    script.append("pcs -f $f resource meta xcatstock resource-stickiness=100 migration-threshold=3 "
                  "failure-timeout=10min")
    script.append("pcs cluster cib-push $f diff-against=$f.orig")
    script.append("rm -f $f $f.orig")
    check(node.exec(["sh", "-c", "\n".join(script)], timeout=300), "creating group xcatstock")


def switch(lab, to, groups):
    """Make `to` the only group: delete the others, create it, wait until it runs."""
    for group in groups:
        if group is not to and present(lab, group):
            remove(lab, group)
    if not present(lab, to):
        (create_ours if to is OURS else create_stock)(lab)
    return wait_started(lab, to, timeout=240)


# ---------------------------------------------------------------- state
def locations(lab, group, via=None):
    return pair.group_locations(lab, via, group.members)


def active_node(lab, group, via=None):
    """The node where every member runs, or None."""
    return pair.active_node(lab, via, group.members)


def wait_started(lab, group, timeout=120, on=None, via=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        where = active_node(lab, group, via)
        if where and (on is None or where == on):
            return where
        time.sleep(0.5)
    raise TimeoutError("group %s not started%s within %.0fs: %s" % (
        group, " on %s" % on if on else "", timeout, locations(lab, group, via)))


def wait_healthy(lab, group, timeout=300):
    """Both nodes online, the group started on one, old failures cleaned up."""
    return pair.wait_healthy(lab, timeout, group.name, group.members)


def check(result, what):
    if result.returncode != 0:
        raise RuntimeError("%s failed (rc %d): %s" % (what, result.returncode,
                                                       (result.stderr or result.stdout).strip()[-800:]))
    return result
