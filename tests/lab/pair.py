"""The HA pair in the lab: two nodes with (stand-in) xCAT on the shared data, a real
cluster with fencing, the group applied from cluster-config/, and the probes that
check from the client namespace that every service answers through the VIP.

Shared by the cluster tests, make demo, make bench and make faults.
"""
import concurrent.futures
import functools
import json
import re
import subprocess
import time
from pathlib import Path

from . import realxcat, snapshot, storage, xcat
from .config import COMPUTE_NODES, LabConfig
from .lab import Lab
from .util import log

REPO = Path(__file__).resolve().parents[2]
CLUSTER_CONFIG = REPO / "cluster-config" / "xcatha.conf"
CLUSTER_CONFIG_NET = "192.168.77"  # the network cluster-config/xcatha.conf describes
NODE_CONFIG = "/etc/xcatha/cluster.conf"
GROUP = "xcatmn"
# every resource of the MN, whether in the group (layout group) or beside it (parallel): the
# MN runs where all of them run
MEMBERS = ("vip", "shared-data", "db", "xcatd", "named", "dhcpd", "conserver", "http")


def prepare(cfg):
    """The xCAT the lab's nodes install: the real one staged from its source, else the stand-in."""
    if xcat.announce():
        realxcat.stage(cfg)
    cfg.binds = xcat.binds(cfg)
    return Lab(cfg)


def new_lab():
    return prepare(LabConfig())


def build(lab, engine="postgresql", keep=True):
    """From nothing to the group running, the way an admin does it: nodes and a cluster with
    fencing, then `xcatha setup begin`, (stand-in) xCAT installed, `xcatha setup finish` —
    standby host2 first, as the seed says — and `xcatha cluster-config apply`.  keep: save the
    built pair as the lab's snapshot (costs a shutdown and a boot: for a pair built again)."""
    started = time.monotonic()
    if xcat.real():
        lab.cfg.save()  # the snapshot's key includes the lab's settings
        wanted = snapshot.key(lab.cfg, engine)
        if snapshot.usable(lab.cfg, wanted, engine):
            snapshot.restore(lab, engine)
            lab.wait_online(lab.cfg.node_names, timeout=180)
            wait_group_started(lab, timeout=240)
            log.info("pair: restored from its snapshot in %.1f s; group on %s", time.monotonic() - started,
                     active_node(lab))
            return
    lab.up(nodes=lab.cfg.node_names, cluster=True, bmcs=True)
    text = cluster_config_text(lab.cfg, engine)
    for name in lab.cfg.node_names:
        lab.node(name).exec(["install", "-D", "-m", "0600", "/dev/stdin", NODE_CONFIG], input=text, check=True)
    for name in reversed(lab.cfg.node_names):
        node = lab.node(name)
        xcat.check(node.exec(["xcatha", "setup", "begin", "-c", NODE_CONFIG], timeout=600), "setup begin on " + name)
        if xcat.real():
            xcat.install_real(lab, node, engine)
        else:
            xcat.check(node.exec(xcat.installer_argv(lab.cfg, engine), timeout=300), "xCAT install on " + name)
        xcat.check(node.exec(["xcatha", "setup", "finish", "-c", NODE_CONFIG], timeout=300), "setup finish on " + name)
    first = lab.node(lab.cfg.node_names[0])
    xcat.check(first.exec(["xcatha", "cluster-config", "apply", "-c", NODE_CONFIG], timeout=300),
               "xcatha cluster-config apply")
    wait_group_started(lab, timeout=180)
    if xcat.real() and keep:
        snapshot.save(lab, wanted, engine, lambda: wait_group_started(lab, timeout=240))
    log.info("pair: built in %.1f s; group on %s", time.monotonic() - started, active_node(lab))


ENGINES = ("postgresql", "mysql", "sqlite")   # as cluster.conf's [database] engine names them


def cluster_config_text(cfg, engine="postgresql"):
    """cluster-config/xcatha.conf for this lab: the file describes the default lab's
    network (192.168.77.x) and PostgreSQL; a lab on another network gets its own
    addresses, a lab of another engine its [database] engine."""
    if engine not in ENGINES:
        raise ValueError("unknown database engine %r (known: %s)" % (engine, ", ".join(ENGINES)))
    text = CLUSTER_CONFIG.read_text().replace(CLUSTER_CONFIG_NET + ".", cfg.net + ".")
    text = re.sub(r"(?m)^engine = postgresql\b", "engine = " + engine, text)
    if not xcat.real():
        text += "\n[xcatd]\ntftp = false             # the test-only stand-in runs no TFTP server\n"
    return text


# ---------------------------------------------------------------- cluster state
def any_running_node(lab, exclude=()):
    for name in lab.cfg.node_names:
        node = lab.node(name)
        if name not in exclude and node.running:
            return node
    raise RuntimeError("no lab node is running")


def crm_mon(lab, via=None):
    """The cluster state as crm_mon's XML, asked on a running node."""
    import xml.etree.ElementTree as ET
    node = lab.node(via) if via else any_running_node(lab)
    result = node.exec(["crm_mon", "--one-shot", "--output-as=xml"], timeout=30)
    return ET.fromstring(result.stdout) if result.returncode == 0 else None


def group_locations(lab, via=None, members=MEMBERS):
    """{resource: [nodes where it is active]} for the group's members."""
    root = crm_mon(lab, via)
    found = {name: [] for name in members}
    if root is None:
        return found
    for resource in root.iter("resource"):
        if resource.get("id") in found and resource.get("active") == "true":
            found[resource.get("id")] = [n.get("name") for n in resource.iter("node")]
    return found


def active_node(lab, via=None, members=MEMBERS):
    """The node where every member of the group runs, or None."""
    locations = group_locations(lab, via, members)
    nodes = {tuple(where) for where in locations.values()}
    if len(nodes) == 1:
        where = nodes.pop()
        if len(where) == 1:
            return where[0]
    return None


def wait_group_started(lab, timeout=120, on=None, via=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        where = active_node(lab, via)
        if where and (on is None or where == on):
            return where
        time.sleep(0.5)
    raise TimeoutError("group %s not started%s within %.0fs: %s" % (
        GROUP, " on %s" % on if on else "", timeout, group_locations(lab, via)))


def other(lab, name):
    return next(n for n in lab.cfg.node_names if n != name)


def planned_move(lab, target, timeout=180):
    """`pcs resource move` to target, then `pcs resource clear`; returns
    ({service: seconds until it answered from target}, pcs result)."""
    import threading
    source = other(lab, target)
    outcome = {}

    def move():
        outcome["result"] = lab.node(source).exec(["pcs", "resource", "move", GROUP, target,
                                                   "--wait=%d" % timeout], timeout=timeout + 30)
    started = time.monotonic()
    mover = threading.Thread(target=move)
    mover.start()
    answers = first_answers(lab, started, timeout=timeout, on=target)
    mover.join()
    lab.node(target).exec(["pcs", "resource", "clear", GROUP], timeout=60)
    return answers, outcome["result"]


# ---------------------------------------------------------------- service probes (from the client)
def cfgloc(lab):
    text = (storage.host_view(lab.cfg) / "etc/xcat/cfgloc").read_text().strip()
    dsn, user, password = text.split("|", 2)
    return dsn.split(":", 1)[0], user, password


def probe_vip(lab):
    return lab.client_exec(["ping", "-c", "1", "-W", "1", lab.cfg.vip], timeout=5).returncode == 0


def probe_port(lab, port):
    """A TCP connection to port at the VIP is accepted."""
    code = "import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()"
    return lab.client_exec(["/usr/bin/python3", "-c", code, lab.cfg.vip, str(port)], timeout=5).returncode == 0


def probe_xcatd(lab):
    return probe_port(lab, 3001)


def resolves(lab, name, address):
    result = lab.client_exec(["dig", "+short", "+time=1", "+tries=1", "@" + lab.cfg.vip, name, "A"], timeout=5)
    return result.returncode == 0 and result.stdout.split() == [address]


def probe_dns(lab):
    """The MN's name, and (real xCAT) a compute node's name, answered at the VIP."""
    cfg = lab.cfg
    if not resolves(lab, "%s.%s" % (cfg.vip_name, cfg.domain), cfg.vip):
        return False
    name, octet, _ = COMPUTE_NODES[0]
    return not xcat.real() or resolves(lab, "%s.%s" % (name, cfg.domain), "%s.%d" % (cfg.net, octet))


DHCLIENT_CONF = "timeout 4;\nretry 1;\ninitial-interval 1;\n"


DHCP_PROBE = Path(__file__).resolve().parent / "dhcp_probe.py"


def dhcp_offer(lab):
    """The DHCP offer a PXE client with the client's DHCP port's MAC gets, or None."""
    result = lab.client_exec(["/usr/bin/python3", "-I", str(DHCP_PROBE), "eth1", lab.cfg.client_dhcp_mac, "4"],
                             timeout=15)
    return json.loads(result.stdout) if result.returncode == 0 else None


def probe_dhcp(lab):
    """Real xCAT: the compute node's reservation, its next-server the VIP and xCAT's boot file;
    the stand-in: any offer."""
    if not xcat.real():
        return probe_dhclient(lab)
    offer = dhcp_offer(lab)
    name, octet, _ = COMPUTE_NODES[0]
    return bool(offer) and offer["yiaddr"] == "%s.%d" % (lab.cfg.net, octet) and offer["siaddr"] == lab.cfg.vip \
        and offer["file"] == xcat.BOOT_FILE


def probe_tftp(lab):
    """The boot file the DHCP offer names, fetched over TFTP through the VIP."""
    # tftp-hpa retransmits its request after 5 s by default, and `-c` cannot change that: a request
    # sent just before in.tftpd serves would be answered seconds late (the bench's TFTP times were
    # the client's).  Its commands on stdin set 1 s retransmits.
    commands = "binary\nrexmt 1\ntimeout 4\nget %s /dev/stdout\nquit\n" % xcat.BOOT_FILE
    result = lab.client_exec(["tftp", lab.cfg.vip], input=commands, timeout=10)
    return result.returncode == 0 and "xcatha lab" in result.stdout


def probe_http(lab):
    """A file of xCAT's /install over HTTP through the VIP (what nodes fetch postscripts with)."""
    result = lab.client_exec(["curl", "-sf", "--max-time", "3", "http://%s/install/postscripts/xHRM" % lab.cfg.vip],
                             timeout=10)
    return result.returncode == 0 and "xcatlib.sh" in result.stdout


def xcat_client(lab, command, *args):
    """An xCAT command run from the client against xcatd at the VIP (XCATHOST), with root's xCAT
    client credentials from the shared data, the way a service node or an admin's
    workstation talks to the MN."""
    home = lab.cfg.workdir / "xcat-client"
    bin_dir = home / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    stage = realxcat.stage_dir(lab.cfg) / "opt/xcat"
    link = bin_dir / command
    if not link.is_symlink():
        link.symlink_to(stage / "bin" / CLIENT_PROGRAMS[command])
    credentials = home / ".xcat"
    credentials.mkdir(mode=0o700, exist_ok=True)
    for name in ("ca.pem", "client-cred.pem"):
        source = storage.host_view(lab.cfg) / "root/.xcat" / name
        if source.exists():
            (credentials / name).write_bytes(source.read_bytes())
            (credentials / name).chmod(0o600)
    env = {"XCATROOT": str(stage), "XCATHOST": "%s:3001" % lab.cfg.vip}
    # xCAT's client takes its credentials from the home directory in the passwd entry, not
    # $HOME: a private mount namespace shows it this directory as /root.
    return lab.client_exec(["unshare", "--mount", "sh", "-c", 'mount --bind "$1" /root && shift && exec "$@"',
                            "sh", str(home), "perl", str(link), *args], env=env, timeout=30)


CLIENT_PROGRAMS = {"nodels": "xcatclient", "lsdef": "xcatDBcmds"}  # as xCAT-client's links name them


def probe_xcat(lab):
    """`nodels` answered by xcatd through the VIP: the compute nodes are listed."""
    result = xcat_client(lab, "nodels")
    return result.returncode == 0 and COMPUTE_NODES[0][0] in result.stdout.split()


def probe_dhclient(lab):
    """A DHCP offer for the client's MAC (a fresh DISCOVER, no remembered lease)."""
    directory = Path("/run/xcatha-lab-dhcp") / lab.cfg.prefix  # one per lab: labs may probe at once
    directory.mkdir(parents=True, exist_ok=True)
    conf, leases, pidfile = directory / "dhclient.conf", directory / "leases", directory / "pid"
    conf.write_text(DHCLIENT_CONF)
    if leases.exists():
        leases.unlink()
    result = lab.client_exec(["dhclient", "-1", "-v", "-cf", str(conf), "-sf", "/bin/true", "-lf", str(leases),
                              "-pf", str(pidfile), "eth1"], timeout=15)
    lab.client_exec(["dhclient", "-x", "-pf", str(pidfile)], timeout=10)
    return "DHCPOFFER of" in result.stderr


def probe_sql(lab, statement="SELECT count(*) FROM site"):
    result = sql(lab, statement)
    return result.returncode == 0 and result.stdout.strip() != ""


def engine_of(lab):
    """The engine of the pair's xCAT database, from the shared data: cfgloc's prefix, else
    (no cfgloc: xCAT's default) SQLite."""
    if not (storage.host_view(lab.cfg) / "etc/xcat/cfgloc").exists():
        return "sqlite"
    return {"Pg": "postgresql", "mysql": "mysql"}[cfgloc(lab)[0]]


SQLITE_DB = "/etc/xcat/labrows.sqlite"   # xCAT keeps each table in a file of its own: so do the lab's rows


def sql(lab, statement):
    """SQL on xcatdb through the VIP with cfgloc's credentials, from the client; SQLite, which
    serves no network, with sqlite3 on the node where the group runs (its /etc/xcat is the
    shared data's), as xcatd opens its files there."""
    if engine_of(lab) == "sqlite":
        # the node that runs the group in its own view: the first running node may be one just
        # back from fencing, still cut off by a split, that sees the group nowhere (fault run of
        # seed 1204, fault 24)
        where = next((name for name in lab.cfg.node_names
                      if lab.node(name).running and active_node(lab, name) == name), None)
        if where is None:
            return subprocess.CompletedProcess(["sqlite3"], 1, "", "the group runs on no node")
        return lab.node(where).exec(["sqlite3", "-bail", "-batch", "-cmd", ".timeout 5000", SQLITE_DB, statement],
                                    timeout=10)
    prefix, user, password = cfgloc(lab)
    if prefix == "Pg":
        argv = ["psql", "-X", "-w", "-At", "-h", lab.cfg.vip, "-U", user, "-d", "xcatdb", "-c", statement]
        env = {"PGPASSWORD": password, "PGCONNECT_TIMEOUT": "2"}
    else:
        argv = ["mariadb", "--connect-timeout=2", "-h", lab.cfg.vip, "-u", user, "-D", "xcatdb", "-N", "-B",
                "-e", statement]
        env = {"MYSQL_PWD": password}
    return lab.client_exec(argv, env=env, timeout=10)


CONSOLE_PORTS = {"conserver": 782, "goconserver": 12430}  # the servers' own defaults (conserver: /etc/services)


@functools.cache
def console_port(net):
    """The console server's port as the lab's cluster.conf says ([console] port, else the type's default)."""
    import configparser
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"))
    parser.read_string(cluster_config_text(LabConfig(net=net)))
    return int(parser.get("console", "port", fallback=CONSOLE_PORTS[parser.get("console", "type")]))


def probe_console(lab):
    """The console server's port accepts a connection at the VIP (what `rcons` and xCAT's console
    commands reach)."""
    return probe_port(lab, console_port(lab.cfg.net))


PROBES = {"vip": probe_vip, "xcatd": probe_xcatd, "dns": probe_dns, "dhcp": probe_dhcp, "sql": probe_sql,
          "console": probe_console}
# The MN's real job, with the real xCAT: a compute node can boot (its DHCP answer above, TFTP,
# HTTP) and xCAT's commands work through the VIP.
if xcat.real():
    PROBES.update({"tftp": probe_tftp, "http": probe_http, "xcat": probe_xcat})
SERVICES = tuple(PROBES)


def services_answer(lab):
    """{service: bool}, all probed at once."""
    with concurrent.futures.ThreadPoolExecutor(len(PROBES)) as pool:
        futures = {name: pool.submit(probe, lab) for name, probe in PROBES.items()}
        return {name: future.result() for name, future in futures.items()}


def vip_on(lab, name):
    node = lab.node(name)
    if not node.running:
        return False
    return (" %s/" % lab.cfg.vip) in node.exec(["ip", "-o", "-4", "addr", "show"], timeout=10).stdout


def first_answers(lab, since, timeout=120, on=None):
    """Poll every probe until it answers; {service: seconds after `since` (monotonic) or None}.
    With on=node, an answer counts only once the VIP is on that node (during a planned
    move the old node answers until it lets go)."""
    def watch(name):
        probe = PROBES[name]
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                if (on is None or vip_on(lab, on)) and probe(lab):
                    return time.monotonic() - since
            except Exception as error:  # noqa: BLE001 - a probe may fail while the node reboots
                log.debug("probe %s: %s", name, error)
            time.sleep(0.1)
        return None
    with concurrent.futures.ThreadPoolExecutor(len(PROBES)) as pool:
        futures = {name: pool.submit(watch, name) for name in PROBES}
        return {name: future.result() for name, future in futures.items()}


# ---------------------------------------------------------------- events from the cluster's own logs
LOG_LINE = re.compile(r"^(\w{3} \d+ \d\d:\d\d:\d\d(?:\.\d+)?) (\S+) .*?(Result of (start|stop) operation for "
                      r"(\S+) on (\S+): (\w+)|Operation '?(\w+)'? (?:\[\d+\] )?targeting (\S+) .*?: (OK|\w+))")


def fence_history(lab, via):
    # without --verbose, Pacemaker 2.1.5 lists only one event per node (the first)
    result = lab.node(via).exec(["stonith_admin", "--history", "*", "--verbose", "--output-as=xml"], timeout=30)
    events = []
    if result.returncode != 0:
        return events
    import xml.etree.ElementTree as ET
    for event in ET.fromstring(result.stdout).iter("fence_event"):
        events.append({"target": event.get("target"), "action": event.get("action"),
                       "status": event.get("status"), "completed": event.get("completed")})
    return events


def summary_json(values):
    return json.dumps(values, sort_keys=False)


def online(lab, via=None):
    root = crm_mon(lab, via)
    if root is None:
        return []
    return [n.get("name") for n in root.iter("node") if n.get("online") == "true"]


def wait_healthy(lab, timeout=180, group=GROUP, members=MEMBERS):
    """Both nodes online, the group started on one, failures cleaned up: a known state to start from."""
    end = time.monotonic() + timeout
    for name in lab.cfg.node_names:
        if not lab.node(name).running:
            lab.boot(name)
    cleaned = False
    while time.monotonic() < end:
        if sorted(online(lab)) == sorted(lab.cfg.node_names) and active_node(lab, members=members):
            if cleaned:
                # and no action left in flight (the cleanup's re-probes may start something): a
                # fault injected into a start under way tests another thing (CI's run: dhcpd
                # killed during a start the cleanup had caused)
                left = max(int(end - time.monotonic()), 10)
                any_running_node(lab).exec(["crm_resource", "--wait", "--timeout=%ds" % left], timeout=left + 10)
                return active_node(lab, members=members)
            # forget old failures (of the group and of the services beside it in the parallel
            # layout); the cleanup re-probes them, so wait for them again
            any_running_node(lab).exec(["crm_resource", "--cleanup"], timeout=60)
            cleaned = True
        time.sleep(1)
    raise TimeoutError("the pair did not become healthy: online=%s %s=%s" % (
        online(lab), group, group_locations(lab, members=members)))


def fail_counts(lab, via=None):
    root = crm_mon(lab, via)
    counts = {}
    if root is not None:
        for history in root.iter("resource_history"):
            count = int(history.get("fail-count", "0") or 0)
            if count:
                counts[history.get("id")] = count
    return counts


def failover_lines(lab, name):
    """The failover lines xcatha's alert agent wrote to a node's journal."""
    result = lab.node(name).exec(["journalctl", "-t", "xcatha-alert", "-o", "cat", "--no-pager", "-q"], timeout=30)
    return [line for line in result.stdout.splitlines() if line.startswith("failover: ")]


def wait_failover_line(lab, name, before, timeout=60):
    """The next failover line on a node (the alert runs once the group's last member started)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        lines = failover_lines(lab, name)
        if len(lines) > before:
            return lines[before]
        time.sleep(0.5)
    raise TimeoutError("no failover line in %s's journal within %.0fs" % (name, timeout))


PACEMAKER_LOG = "/var/log/pacemaker/pacemaker.log"
EVENT_PATTERNS = (
    (re.compile(r"Requesting fencing \((\w+)\) of node (\S+)"), "fencing of {1} requested"),
    (re.compile(r"Operation '?(\w+)'? targeting (\S+) by \S+ for \S+: OK"), "{1} fenced ({0})"),
    (re.compile(r"Result of (start|stop) operation for (\S+) on (\S+): (\w+)"), "{1} {0} on {2}: {3}"),
    (re.compile(r"Node (\S+) state is now lost"), "{0} lost"),
)


def cluster_events(lab, via, since):
    """(epoch seconds, event) from a node's pacemaker.log, after `since` (epoch seconds)."""
    import datetime
    text = lab.node(via).exec(["cat", PACEMAKER_LOG], timeout=30).stdout
    year = datetime.date.today().year
    events, seen = [], set()
    for line in text.splitlines():
        for pattern, template in EVENT_PATTERNS:
            match = pattern.search(line)
            if not match:
                continue
            try:
                stamp = datetime.datetime.strptime("%d %s" % (year, line[:19]), "%Y %b %d %H:%M:%S.%f").timestamp()
            except ValueError:
                continue
            event = template.format(*match.groups())
            if stamp >= since and (event, round(stamp, 1)) not in seen:
                seen.add((event, round(stamp, 1)))
                events.append((stamp, event))
            break
    return sorted(events)
