"""The xCAT side of the lab: the HA layout on the shared data, (the stand-in) xCAT
installed on it, and the agents run by hand in group order.

Used by the agent tests, the cluster tests, make demo, make bench and make faults.
"""
import re
import shutil
import subprocess
import time
from collections import OrderedDict
from pathlib import Path

from . import realxcat
from .config import COMPUTE_NODES
from .util import log

AGENT_DIR = "/usr/lib/ocf/resource.d/xcat"
STANDIN = Path(__file__).resolve().parents[1] / "xcat_standin"
INSTALLER = "/opt/xcat/share/xcat/standin/install"
AGENT_LOG = "/var/log/xcatha-agents.log"
DB_DIRS = {"postgresql": ("/var/lib/postgresql", "/etc/postgresql"), "mysql": ("/var/lib/mysql", "/etc/mysql"),
           "sqlite": ()}
DB_UNITS = {"postgresql": "postgresql@15-main", "mysql": "mariadb", "sqlite": None}
XCAT_DIRS = ("/install", "/etc/xcat", "/root/.xcat", "/tftpboot")


def standin_binds():
    """Bind the stand-in where xCAT lives, read-only: `make install` never installs it."""
    return [(str(STANDIN), "/opt/xcat", True)]


def real():
    """True when the lab runs the real xCAT (its source is there), not the stand-in."""
    return realxcat.available()


def binds(cfg):
    """What a node needs to install xCAT from: the staged real xCAT, else the stand-in."""
    return realxcat.binds(cfg) if real() else standin_binds()


def announce():
    """One loud line when the lab has to fall back to the stand-in."""
    if not real():
        log.warning("NO xCAT SOURCE (XCAT_SRC or %s): the lab runs the test-only xCAT STAND-IN, not xCAT",
                    realxcat.DEFAULT_SOURCES)
    return real()


# ---------------------------------------------------------------- the real xCAT, installed by the admin
XCAT_ENV = "/etc/profile.d/xcat.sh"


def xcat_sh(node, command, timeout=600, check=True):
    """A shell command line in a node with xCAT's login environment (its PATH), as an admin types it."""
    result = node.exec(["bash", "-c", ". %s; export HOME=/root; cd /root; %s" % (XCAT_ENV, command)],
                       timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError("on %s: %s: rc %d\n%s\n%s" % (node.name, command, result.returncode,
                                                          result.stdout[-1500:], result.stderr[-1500:]))
    return result


def install_real(lab, node, engine="postgresql"):
    """What installing xCAT's packages does on a node whose xCAT directories are linked into
    the shared data: the files unpacked (dpkg), then their configuration (xcatconfig -i).
    On the first host the database is created on the shared data — PostgreSQL with
    pgsqlsetup, reachable from the VIP and both hosts, as xCAT's HA guide says — and the
    lab's site, network and compute nodes are defined; the second host finds all that
    there (its `xcatha setup begin` started the database) and only configures itself."""
    cfg = lab.cfg
    node.exec(["bash", "-c", "tar -C %s -cf - . | tar -C / -xf - --keep-directory-symlink --no-overwrite-dir"
               % realxcat.NODE_DIST], check=True, timeout=120)
    node.exec(["mkdir", "-p", "/var/run/xcat"], check=True)
    node.exec(["systemctl", "daemon-reload"], check=True)
    first = node.exec(["test", "-e", "/etc/xcat/cfgloc"]).returncode != 0 and \
        node.exec(["sh", "-c", "ls /etc/xcat/*.sqlite"]).returncode != 0
    if not first:
        xcat_sh(node, "xcatconfig -i")
        return
    # Both hosts (xcatd connects from the host's own address) and the client (an admin's
    # workstation, a service node) reach the database at the VIP.
    access = [cfg.node_ip(n) for n in cfg.node_names] + [cfg.client_ip]
    if engine == "postgresql":
        xcat_sh(node, "XCATPGPW=%s pgsqlsetup -i -N %s" % (LAB_DB_PASSWORD, " ".join("-a " + a for a in access)))
        # -d: the site table's defaults into the database pgsqlsetup just made (xcatconfig does
        # the same itself when XCATPGPW is set, but then with no access for the hosts).
        xcat_sh(node, "xcatconfig -i -d")
    else:
        xcat_sh(node, "xcatconfig -i")
        if engine == "mysql":  # SQLite first, then moved into MariaDB, as xCAT's documentation does it
            move_to_mariadb(lab, node, access)
    define_site(lab, node)


# The SQLite tables xcatconfig left empty, one name a line (a file whose table does not answer
# is not named: it is moved as it is).
EMPTY_TABLES = ('for f in /etc/xcat/*.sqlite; do t=$(basename "$f" .sqlite); '
                '[ "$(sqlite3 "$f" "SELECT count(*) FROM $t" 2>/dev/null)" = 0 ] && echo "$t"; done; true')
NEVER_DUMPED = re.compile(r"^(eventlog|auditlog|x_teal|isnm_perf)")   # dumpxCATdb's own exceptions


def move_to_mariadb(lab, node, access):
    """mysqlsetup -i: xCAT's own move from SQLite into MariaDB.  It dumps the tables
    (dumpxCATdb) and restores them with one `tabrestore` each, a Perl process that loads all of
    xCAT's plugins (1.8 s here: 74 tables, over two minutes, twice in make test).  The tables
    xcatconfig left empty are named in XCAT_SKIPTABLES, dumpxCATdb's own knob, so only the ones
    with rows move that way; then one dumpxCATdb through xcatd (the backup an admin takes after
    the move) opens every table, which creates the empty ones in MariaDB with xCAT's own
    statements, as their restore would have.  Checked: MariaDB then has every table."""
    empty = node.exec(["sh", "-c", EMPTY_TABLES], check=True, timeout=60).stdout.split()
    node.exec(["install", "-m", "0600", "/dev/stdin", "/root/xcat-mysql-hosts"], input="\n".join(access) + "\n",
              check=True)
    xcat_sh(node, "XCAT_SKIPTABLES=%s XCATMYSQLADMIN_PW=%s XCATMYSQLROOT_PW=%s mysqlsetup -i -f "
            "/root/xcat-mysql-hosts" % (",".join(empty), LAB_DB_PASSWORD, LAB_DB_PASSWORD), timeout=900)
    xcat_sh(node, "dumpxCATdb -p /root/xcat-dbback-mariadb", timeout=300)
    expected = {name[:-len(".sqlite")] for name in
                node.exec(["ls", "/etc/xcat"], check=True).stdout.split() if name.endswith(".sqlite")}
    expected = {name for name in expected if not NEVER_DUMPED.match(name)}
    listed = node.exec(["mariadb", "-h", lab.cfg.node_ip(node.name), "-u", "xcatadmin", "-N", "-B", "-e",
                        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'xcatdb'"],
                       env={"MYSQL_PWD": LAB_DB_PASSWORD}, timeout=30)
    missing = sorted(expected - set(listed.stdout.split()))
    if listed.returncode != 0 or missing:
        raise RuntimeError("on %s: after mysqlsetup MariaDB's xcatdb lacks %s: %s"
                           % (node.name, ", ".join(missing) or "its tables", listed.stderr.strip()))


LAB_DB_PASSWORD = "xcatlab2026"   # pgsqlsetup takes letters and digits only


def define_site(lab, node):
    """The lab's xCAT objects, as an admin defines them with xCAT's commands: the site and
    the provisioning network served through the VIP, and the compute nodes (cn1 has the
    client's DHCP port's MAC).  Their names are in every host's /etc/hosts (config.py),
    which makedns reads."""
    cfg = lab.cfg
    vip = cfg.vip
    xcat_sh(node, "chdef -t site master=%s nameservers=%s domain=%s dhcpinterfaces=eth0 forwarders="
            % (vip, vip, cfg.domain))
    network = "%s_0-255_255_255_0" % cfg.net.replace(".", "_")
    xcat_sh(node, "chdef -t network %s net=%s.0 mask=255.255.255.0 mgtifname=eth0 dhcpserver=%s tftpserver=%s "
            "nameservers=%s dynamicrange=%s.100-%s.150 domain=%s"
            % (network, cfg.net, vip, vip, vip, cfg.net, cfg.net, cfg.domain))
    for name, octet, mac in COMPUTE_NODES:
        attributes = "groups=compute,all ip=%s.%d netboot=xnba arch=x86_64 mgt=ipmi cons=ipmi " \
                     "bmc=%s.%d bmcusername=ADMIN bmcpassword=ADMIN xcatmaster=%s tftpserver=%s nfsserver=%s" \
                     % (cfg.net, octet, cfg.net, octet + 150, vip, vip, vip)
        if mac:
            attributes += " mac=%s" % mac
        xcat_sh(node, "mkdef -f -t node %s %s" % (name, attributes))
    # The boot loader xCAT's DHCP answer names comes from xCAT's dependency repository,
    # which cannot be reached here: a stand-in file is served in its place.
    node.exec(["install", "-D", "-m", "0644", "/dev/stdin", "/tftpboot/" + BOOT_FILE],
              input="xcatha lab: stand-in for xCAT's %s (xCAT's dependency repository is not reachable)\n"
              % BOOT_FILE, check=True)


BOOT_FILE = "xcat/xnba.kpxe"       # what xCAT's dhcpd.conf gives an x86 BIOS PXE client


def group_params(cfg, engine="postgresql", console="conserver"):
    """The group's resources in start order, with the parameters the cluster config gives them."""
    return OrderedDict([
        ("vip", {"ip": cfg.vip, "cidr_netmask": "24", "nic": "eth0", "hostname": cfg.vip_name}),
        ("shared-data", {"shared_dir": "/HA-data", "engine": engine}),
        ("db", {"engine": engine}),
        ("xcatd", {} if real() else {"tftp": "false"}),  # the stand-in runs no TFTP server
        ("named", {"ip": cfg.vip, "hostname": "%s.%s" % (cfg.vip_name, cfg.domain)}),
        ("dhcpd", {}),
        ("conserver", {"console": console}),
        ("http", {}),
    ])


def agent(node, name, action, params=None, timeout=60, depth=None, interval_ms=None, env=None):
    """Run an installed agent inside node the way pacemaker-execd does; returns CompletedProcess."""
    environ = {"OCF_ROOT": "/usr/lib/ocf", "OCF_RESOURCE_INSTANCE": name,
               "OCF_RESKEY_CRM_meta_timeout": str(int(timeout * 1000)), "HA_LOGFILE": AGENT_LOG,
               "HA_debug": "0", "__OCF_ACTION": action}
    if depth is not None:
        environ["OCF_CHECK_LEVEL"] = str(depth)
    if interval_ms is not None:
        environ["OCF_RESKEY_CRM_meta_interval"] = str(interval_ms)
    for key, value in (params or {}).items():
        environ["OCF_RESKEY_" + key] = str(value)
    environ.update(env or {})
    return node.exec(["%s/%s" % (AGENT_DIR, name), action], env=environ, timeout=timeout + 15)


def seed_shared_data(lab, engine="postgresql"):
    """Lay out the shared data from the host side: xCAT's directories, and the database
    directory copied from the freshly installed package (what `xcatha setup` does on a real pair)."""
    shared = Path(lab.cfg.shared_data)
    for directory in XCAT_DIRS:
        (shared / directory.lstrip("/")).mkdir(parents=True, exist_ok=True)
    (shared / "root/.xcat").chmod(0o700)
    for source in DB_DIRS[engine]:
        target = shared / source.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["rsync", "-aHAX", "--delete", source + "/", str(target) + "/"], check=True)


def installer_argv(cfg, engine="postgresql", extra=()):
    """The stand-in's go-xcat + xcatconfig for the lab: the VIP as site.master, the lab's
    network, both MNs and two compute nodes (cn1 with the client's DHCP MAC)."""
    argv = [INSTALLER, "--db", engine, "--master", cfg.vip, "--domain", cfg.domain,
            "--network", "%s.0/24,range=%s.100-%s.150" % (cfg.net, cfg.net, cfg.net), *extra]
    for other in cfg.node_names:
        argv += ["--node", "%s=%s" % (other, cfg.node_ip(other))]
    for name, octet, mac in COMPUTE_NODES:
        argv += ["--node", "%s=%s.%d%s,console" % (name, cfg.net, octet, ",mac=" + mac if mac else "")]
    return argv


def install_xcat(lab, node_name, engine="postgresql"):
    """The admin installs xCAT on a node holding the VIP and the links; then it is deactivated."""
    cfg = lab.cfg
    node = lab.node(node_name)
    params = group_params(cfg, engine)
    for name in ("vip", "shared-data"):
        check(agent(node, name, "start", params[name]), "%s start on %s" % (name, node_name))
    check(node.exec(installer_argv(cfg, engine), timeout=300), "xCAT install on %s" % node_name)
    for unit in ("xcatd", DB_UNITS[engine]):
        if unit:
            node.exec(["systemctl", "stop", unit], timeout=120)
            node.exec(["systemctl", "disable", unit], timeout=60)
    for name in ("shared-data", "vip"):
        check(agent(node, name, "stop", params[name]), "%s stop on %s" % (name, node_name))


def activate(node, params, upto=None):
    """Start the group's resources in order (upto: the last one to start)."""
    for name, values in params.items():
        check(agent(node, name, "start", values, timeout=120), "%s start on %s" % (name, node.name))
        if name == upto:
            break


def deactivate(node, params):
    for name, values in reversed(params.items()):
        check(agent(node, name, "stop", values, timeout=120), "%s stop on %s" % (name, node.name))


def check(result, what):
    if result.returncode != 0:
        raise RuntimeError("%s failed (rc %d): %s" % (what, result.returncode,
                                                       (result.stderr or result.stdout).strip()[-800:]))
    return result


def wait_until(predicate, timeout, interval=0.2, what="condition"):
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise TimeoutError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def have(program):
    return shutil.which(program) is not None


def log_step(message, *args):
    log.info(message, *args)
