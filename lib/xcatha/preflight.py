"""xcatha check: a preflight of the pair, each finding with the fix.

What can only be seen on the other host (its OS, xCAT and database versions, its clock) is
compared with what it recorded in the shared data (parity), whether or not the cluster runs;
`xcatha setup units` also records each host's versions as permanent node attributes in the
CIB.  The check itself writes nothing.
"""
import ipaddress
import os
import socket

from xcatha import activation, backup, cluster_config, db, run, shared_data, units, xcat_tables
from xcatha.log import log
from xcatha.ocf import Boolean

OK, WARN, FAIL = "ok", "warn", "FAIL"


class Finding:
    __slots__ = ("level", "what", "fix")

    def __init__(self, level, what, fix=""):
        self.level, self.what, self.fix = level, what, fix

    def render(self):
        text = "[%-4s] %s" % (self.level, self.what)
        return text + ("\n       fix: %s" % self.fix if self.fix else "")


def check(config):
    findings = []
    add = findings.append
    me, peer = activation.whoami(config)
    address = ipaddress.ip_address(config.get("vip", "ip"))
    shared_dir = config.get("shared", "dir")

    # shared data: present, mounted, safe, writable
    require_mount = cluster_config.require_mount(config)
    try:
        shared_data.check_shared_dir(shared_dir, require_mount)
        # a check writes nothing: whether root may write here is asked, not tried
        if not os.access(shared_dir, os.W_OK):
            raise OSError("not writable here")
        add(Finding(OK, "%s is mounted and writable here, owned by root, not group/world-writable" % shared_dir))
    except (shared_data.OcfError, OSError) as error:
        add(Finding(FAIL, "shared data %s: %s" % (shared_dir, getattr(error, "reason", error)),
                    "mount the shared storage at %s on both hosts (root:root, mode 0755)" % shared_dir))

    # this host's own address must not be the VIP (left over from converting a running MN)
    if me.address == str(address):
        add(Finding(FAIL, "%s's own address in %s is the VIP" % (me.name, config.path),
                    "give the host an address of its own (xcatha setup convert --new-ip)"))

    # cfgloc host= and site.master are the VIP
    cfgloc_path = cluster_config.cfgloc_path(config)
    try:
        cfgloc = db.check_engine(config.get("database", "engine"), cfgloc_path)
        if cfgloc is None:
            add(Finding(OK, "database: SQLite, as configured"))
        elif cfgloc.host == str(address):
            add(Finding(OK, "cfgloc: %s at host=%s (the VIP)" % (cfgloc.engine, cfgloc.host)))
        else:
            add(Finding(FAIL, "cfgloc says host=%s, not the VIP %s" % (cfgloc.host, address),
                        "rerun pgsqlsetup/mysqlsetup with the VIP, or edit %s" % cfgloc_path))
    except db.OcfError as error:
        add(Finding(FAIL, "database: %s" % error.reason, "fix [database] engine in %s or switch the database"
                    % config.path))
    findings.extend(_table_findings(config, me, peer))

    # services disabled at boot here
    for _service, _unit, boot in activation.service_units(config):
        enabled = units.enabled_units(boot)
        if enabled:
            add(Finding(FAIL, "%s enabled at boot on %s" % (" ".join(enabled), me.name),
                        "systemctl disable %s (the cluster starts it)" % " ".join(enabled)))
    if not any(f.what.endswith("enabled at boot on %s" % me.name) for f in findings):
        add(Finding(OK, "the xCAT services are disabled at boot on %s" % me.name))
    missing = [unit for _s, unit, _b in activation.service_units(config)
               if not os.path.exists(units.drop_in_paths(unit)[0])]
    if missing:
        add(Finding(WARN, "no permanent drop-in for %s: each start at failover pays a daemon-reload"
                    % " ".join(missing), "xcatha setup units (changes no running service)"))
    else:
        add(Finding(OK, "the xCAT services' units are never restarted by systemd itself"))
    if units.enabled_units(["xcatha-boot-cleanup.service"]):
        add(Finding(OK, "xcatha-boot-cleanup.service is enabled"))
    else:
        add(Finding(WARN, "xcatha-boot-cleanup.service is not enabled: links a crash leaves behind stay",
                    "systemctl enable xcatha-boot-cleanup.service"))

    # the VIP's hostname resolves to the VIP
    for name in filter(None, (config.get("vip", "hostname"), config.get("vip", "fqdn"))):
        try:
            resolved = {info[4][0] for info in socket.getaddrinfo(name, None)}
        except socket.gaierror:
            resolved = set()
        if str(address) in resolved:
            add(Finding(OK, "%s resolves to the VIP" % name))
        else:
            add(Finding(FAIL, "%s does not resolve to the VIP %s (got %s)" % (name, address,
                                                                          ", ".join(sorted(resolved)) or "nothing"),
                        "add '%s %s' to /etc/hosts on both hosts" % (address, name)))

    findings.extend(_cluster_checks(me, peer, config))
    findings.extend(_backup_findings(config))
    findings.extend(parity_checks(config, me, peer))
    findings.extend(sync_checks(config, me))
    return findings


def _table_findings(config, me, peer):
    """The xCAT tables that must name the VIP, and the policy rows of the pair's certificates."""
    return [Finding(level, what, fix) for level, what, fix in xcat_tables.check(config)]


def _backup_findings(config):
    """The nightly dumpxCATdb: its timer enabled here, the newest backup (this host's or, through
    the CIB, the peer's) younger than two days."""
    import time
    try:
        directory, keep, when = backup.settings(config)
    except cluster_config.ConfigError as error:
        return [Finding(FAIL, str(error), "fix [backup] in %s" % config.path)]
    findings = []
    if units.enabled_units([backup.TIMER]):
        findings.append(Finding(OK, "%s is enabled (dumpxCATdb at %s into %s, %d kept)" % (backup.TIMER, when,
                                                                                           directory, keep)))
    else:
        findings.append(Finding(WARN, "%s is not enabled here: no nightly backup of the xCAT database when this "
                                "host is the MN" % backup.TIMER, "xcatha setup units"))
    try:
        nodes = run.run(["cibadmin", "--query", "--scope", "nodes"], timeout=30, quiet=True)
    except (FileNotFoundError, run.CommandTimeout):
        nodes = None
    newest = backup.newest(config, nodes.stdout if nodes is not None and nodes.ok else None)
    if newest is None:
        findings.append(Finding(WARN, "no backup of the xCAT database yet (in %s here, nor recorded by the peer)"
                                % directory, "xcatha backup on the active MN"))
    elif time.time() - newest > backup.STALE_AFTER:
        findings.append(Finding(WARN, "the newest backup of the xCAT database is %.1f days old (%s)" % (
            (time.time() - newest) / 86400, time.strftime("%Y-%m-%d %H:%M", time.localtime(newest))),
            "journalctl -u xcatha-backup.service on the active MN; xcatha backup there"))
    else:
        findings.append(Finding(OK, "the newest backup of the xCAT database is from %s"
                                % time.strftime("%Y-%m-%d %H:%M", time.localtime(newest))))
    return findings


def _versions(engine):
    """The versions both hosts must share: xCAT's and the database server's."""
    from xcatha import parity
    versions = {}
    release = parity.xcat_version()
    if release:
        versions["xcat"] = release
    servers = db.server_versions(engine)
    if servers:
        versions[engine] = servers[sorted(servers, key=db._version_key)[-1]]
    return versions


def _fence_devices(cib):
    """{node: [fence device ids]} from the CIB's stonith primitives and their pcmk_host_list."""
    devices = {}
    for primitive in cib.iter("primitive"):
        if primitive.get("class") != "stonith":
            continue
        for nvpair in primitive.iter("nvpair"):
            if nvpair.get("name") in ("pcmk_host_list", "pcmk_host_map"):
                for host in nvpair.get("value", "").replace(",", " ").replace(";", " ").split():
                    devices.setdefault(host.split(":")[0], []).append(primitive.get("id"))
    return devices


def _endless_power_on_waits(cib):
    """Fence devices whose agent, run by Pacemaker, waits for a rebooted box to power on with no
    limit of its own (fence-agents' disable_timeout, true under pacemaker-fenced): a box whose
    board died never does, its reboot times out, and the peer never takes over."""
    findings, has_option = [], {}
    for primitive in cib.iter("primitive"):
        if primitive.get("class") != "stonith":
            continue
        values = {nvpair.get("name"): nvpair.get("value", "") for nvpair in primitive.iter("nvpair")}
        if values.get("disable_timeout", "").strip().lower() in Boolean.FALSE:
            continue
        agent = primitive.get("type")
        if agent not in has_option:
            metadata = run.run(["crm_resource", "--show-metadata", "stonith:" + agent], timeout=30, quiet=True)
            has_option[agent] = metadata.ok and 'name="disable_timeout"' in metadata.stdout
        if has_option[agent]:
            hosts = values.get("pcmk_host_list") or primitive.get("id")
            findings.append(Finding(WARN, "%s (%s) waits for a rebooted %s to power on with no limit: if its board "
                                    "dies, its fencing never completes and the peer never takes over"
                                    % (primitive.get("id"), agent, hosts),
                                    "fence_disable_timeout = false in [node %s] of cluster.conf, then xcatha "
                                    "cluster-config apply" % hosts))
    return findings


def record_versions(config, node):
    """This host's versions as permanent node attributes, and with its clock in the shared data
    (parity), for the peer's check to compare."""
    from xcatha import parity
    try:
        parity.record(config.get("shared", "dir"), node.name, config.get("database", "engine"))
    except OSError as error:
        log.warning("cannot record this host's versions in the shared data: %s", error)
    for key, value in _versions(config.get("database", "engine")).items():
        result = run.run(["crm_attribute", "--node", node.name, "--name", "xcatha-version-" + key, "--update",
                          value, "--lifetime", "forever"], timeout=30, quiet=True)
        if not result.ok:
            return False
    return True


def _resource_active(resource):
    result = run.run(["crm_resource", "--locate", "--resource", resource], timeout=30, quiet=True)
    return result.ok and "is running on" in result.stdout


def _cluster_checks(me, peer, config):
    findings = []
    try:
        cib = run.run(["cibadmin", "--query"], timeout=30, quiet=True)
    except (FileNotFoundError, run.CommandTimeout):
        cib = None
    if cib is None or not cib.ok:
        findings.append(Finding(WARN, "no cluster runs here: fencing and two_node not checked",
                                "pcs host auth, pcs cluster setup --start, xcatha cluster-config apply"))
        return findings
    # the versions of both hosts are compared by parity_checks, cluster or not
    # fencing configured and tested
    enabled = run.run(["crm_attribute", "--type", "crm_config", "--name", "stonith-enabled", "--query",
                       "--quiet"], timeout=30, quiet=True).stdout.strip()
    if enabled.lower() in Boolean.FALSE:   # Pacemaker's words for no, in any case
        findings.append(Finding(FAIL, "stonith-enabled is false: a failover could run the MN twice",
                                "pcs property set stonith-enabled=true (with fence devices)"))
    import xml.etree.ElementTree as ET
    root = ET.fromstring(cib.stdout)  # noqa: S314 - our own cluster's CIB
    devices = _fence_devices(root)
    for node in (me, peer):
        mine = devices.get(node.name, [])
        if not mine:
            findings.append(Finding(FAIL, "no fence device can fence %s" % node.name,
                                    "xcatha cluster-config apply (fence_* keys in [node %s])" % node.name))
            continue
        running = [device for device in mine if _resource_active(device)]
        if not running:
            findings.append(Finding(FAIL, "the fence device of %s (%s) is not running: its BMC may be unreachable"
                                    % (node.name, " ".join(mine)), "pcs status; check the BMC address and password"))
            continue
        history = run.run(["stonith_admin", "--history", node.name], timeout=30, quiet=True).stdout
        if "successful" in history:
            findings.append(Finding(OK, "%s can be fenced (%s) and has been, successfully" % (node.name,
                                                                                          " ".join(running))))
        else:
            findings.append(Finding(WARN, "fencing of %s is configured (%s) but never tested" % (
                node.name, " ".join(running)), "pcs stonith fence %s (reboots it) during a maintenance window"
                % node.name))
    findings += _endless_power_on_waits(root)
    two_node = run.run(["corosync-cmapctl", "-g", "quorum.two_node"], timeout=30, quiet=True)
    if two_node.ok and two_node.stdout.strip().endswith("= 1"):
        findings.append(Finding(OK, "corosync two_node is set"))
    else:
        findings.append(Finding(FAIL, "corosync two_node is not set: one host alone has no quorum",
                                "pcs quorum update two_node=1 (cluster stopped), or set it in corosync.conf"))
    return findings


# ---------------------------------------------------------------- issue 16: parity and sync
def parity_checks(config, me, peer):
    """This host now against what the peer recorded in the shared data (cluster or not), and
    whether this host's database server can open the shared database."""
    from xcatha import parity
    shared_dir = config.get("shared", "dir")
    engine = config.get("database", "engine")
    mine = parity.gather(engine)
    recorded = parity.read(shared_dir, me.name) or {}
    mine["clock_offset"] = recorded.get("clock_offset")
    findings = [Finding(level, what, fix) for level, what, fix in
                parity.compare(me.name, mine, peer.name, parity.read(shared_dir, peer.name))]
    if engine != "sqlite":
        server = db.engine_for(engine, config.get("database", "unit"), config.get("database", "datadir"))
        data = db.data_version(engine, shared_data.target_of(shared_dir, server.datadir))
        installed = dict(zip(mine["database"]["majors"], mine["database"]["versions"]))
        problem = db.version_problem(engine, data, installed, unit=server.unit, host=me.name) if data[0] else None
        if problem:
            fix, why = problem
            findings.append(Finding(FAIL, "%s: the db start would refuse here" % why, fix))
        elif data[0]:
            findings.append(Finding(OK, "%s's %s can open the shared database (%s %s)" % (
                me.name, engine, engine, data[0])))
    return findings


def _sync_path_state(files):
    """Enabled is not enough: a failed path unit (its service's start limit, once) watches nothing."""
    try:
        values = units.show("xcatha-sync.path", "ActiveState", "Result")
    except units.OcfError as error:
        return Finding(FAIL, "cannot ask systemd about xcatha-sync.path: %s" % error,
                       "systemctl status xcatha-sync.path")
    if values.get("ActiveState") == "active":
        return Finding(OK, "xcatha-sync.path is enabled and watching: %s follow the active MN" % " ".join(files))
    state = (values.get("ActiveState") or "unknown", values.get("Result") or "-", " ".join(files))
    return Finding(FAIL, "xcatha-sync.path is enabled but %s (%s): changes of %s on this host no longer reach the "
                   "shared data" % state,
                   "systemctl reset-failed xcatha-sync.path xcatha-sync.service; systemctl start xcatha-sync.path")


def sync_checks(config, me):
    """The files that follow the active MN: the path unit, and what a failover would install here."""
    from xcatha import file_sync
    findings = []
    try:
        files = cluster_config.sync_files(config)
    except file_sync.SyncError as error:
        return [Finding(FAIL, str(error), "fix [sync] files in %s" % config.path)]
    if not files:
        return [Finding(WARN, "[sync] files is empty: no file follows the active MN",
                        "list /etc/hosts and /root/.ssh/id_* in [sync] files, as xCAT's HA guide syncs them")]
    if units.enabled_units(["xcatha-sync.path"]):
        findings.append(_sync_path_state(files))
    else:
        findings.append(Finding(WARN, "xcatha-sync.path is not enabled: changes of %s on the MN reach the "
                                "shared data only when it stops" % " ".join(files),
                                "systemctl enable --now xcatha-sync.path (xcatha setup units does it)"))
    shared_dir = config.get("shared", "dir")
    manifest = file_sync.read_manifest(shared_dir)
    if manifest is None:
        findings.append(Finding(WARN, "no file has been copied into %s yet" % file_sync.store_dir(shared_dir),
                                "xcatha sync push on the active MN"))
        return findings
    holder = shared_data.lease_holder(shared_dir)
    active = holder is not None and holder.split(".")[0] == me.name.split(".")[0]
    pending = file_sync.differences(shared_dir, files, (shared_data.own_name(), me.name))
    for path, why in pending:
        if active:
            findings.append(Finding(FAIL, "%s %s on the active MN: not pushed" % (path, why),
                                    "xcatha sync push (and check xcatha-sync.path)"))
        else:
            findings.append(Finding(OK, "%s here %s: a failover to %s installs it (the local one kept as %s%s)"
                                    % (path, why, me.name, path, file_sync.PREV_SUFFIX)))
    if not pending:
        findings.append(Finding(OK, "%s match the copy in the shared data" % " ".join(files)))
    return findings
