"""The xCAT side of the lab: the HA layout on the shared data, (the stand-in) xCAT
installed on it, and the agents run by hand in group order.

Used by the agent tests, the cluster tests, make demo, make bench and make faults.
"""
import shutil
import subprocess
import time
from collections import OrderedDict
from pathlib import Path

from .util import log

AGENT_DIR = "/usr/lib/ocf/resource.d/xcat"
STANDIN = Path(__file__).resolve().parents[1] / "xcat_standin"
INSTALLER = "/opt/xcat/share/xcat/standin/install"
AGENT_LOG = "/var/log/xcatha-agents.log"
DB_DIRS = {"postgresql": "/var/lib/postgresql", "mysql": "/var/lib/mysql", "sqlite": None}
DB_UNITS = {"postgresql": "postgresql@15-main", "mysql": "mariadb", "sqlite": None}
XCAT_DIRS = ("/install", "/etc/xcat", "/root/.xcat", "/tftpboot")
COMPUTE_NODES = (("cn1", 50, "52:54:00:77:00:50"), ("cn2", 51, None))


def standin_binds():
    """Bind the stand-in where xCAT lives, read-only: `make install` never installs it."""
    return [(str(STANDIN), "/opt/xcat", True)]


def group_params(cfg, engine="postgresql", console="conserver"):
    """The group's resources in start order, with the parameters the cluster config gives them."""
    return OrderedDict([
        ("vip", {"ip": cfg.vip, "cidr_netmask": "24", "nic": "eth0", "hostname": cfg.vip_name}),
        ("shared-data", {"shared_dir": "/HA-data", "engine": engine}),
        ("db", {"engine": engine}),
        ("xcatd", {}),
        ("named", {"ip": cfg.vip, "hostname": "%s.%s" % (cfg.vip_name, cfg.domain)}),
        ("dhcpd", {}),
        ("conserver", {"console": console}),
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
    source = DB_DIRS[engine]
    if source:
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
