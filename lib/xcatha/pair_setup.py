"""Setting up the HA pair, in steps an admin can run and re-run (the seed's two scenarios).

Scenario 1, neither host has xCAT yet — on host2 (standby) first, then host1:
    xcatha setup begin    VIP and its hostname up, shared data seeded, links made
    (install xCAT, switch the database if wanted)
    xcatha setup finish   DB type checked, services disabled at boot, host deactivated
Scenario 2, host1 already runs xCAT:
    xcatha setup convert --new-ip ADDR   on host1: its address becomes the VIP, its data
                                         copied to the shared dir (progress, resumable,
                                         verified), links made, host1 deactivated
    then host2 as in scenario 1, then `xcatha activate` on host1.
Each step checks what is already done, says what it did and what comes next.
"""
import ipaddress
import os
import socket
import time

from xcatha import activation, cluster_config, db, run, services, shared_data, units, vip

BOOT_CLEANUP_UNIT = "xcatha-boot-cleanup.service"


class SetupError(Exception):
    """A setup step cannot go on; the message says why and what to do."""


def _local_addresses():
    return {info.get("local") for link in vip.read_links() for info in link.get("addr_info", [])}


def whoami(config):
    node = cluster_config.local_node(config, _local_addresses(), vip.static_hostname() or socket.gethostname())
    return node, cluster_config.peer_of(config, node)


def check_shared_dir(config):
    shared_dir = config.get("shared", "dir")
    require_mount = config.get("shared", "require_mount", "true").lower() in ("1", "true", "yes", "on")
    try:
        shared_data.check_shared_dir(shared_dir, require_mount)
    except shared_data.OcfError as error:
        raise SetupError(error.reason) from None
    return shared_dir


# ---------------------------------------------------------------- copying into the shared data
def copy_into_shared(source, target, out, bwlimit=None, set_aside=None):
    """rsync source/ to target/ with a progress line (bytes, rate, ETA); re-running resumes.

    With set_aside (a directory), target becomes an exact mirror of source: what was in
    target but not in source (a temporary file of an interrupted copy, or older data) is
    moved there rather than deleted.
    """
    os.makedirs(target, exist_ok=True)
    argv = ["rsync", "-aH", "--numeric-ids", "--partial", "--info=progress2", "--no-inc-recursive",
            source + "/", target + "/"]
    if bwlimit:
        argv.insert(1, "--bwlimit=%s" % bwlimit)
    if set_aside:
        argv[1:1] = ["--delete", "--backup", "--backup-dir=%s" % set_aside]
    out("  copying %s -> %s" % (source, target))
    rc = run.stream(argv, lambda text: out(text, progress=True))
    out("", progress=False)
    if rc != 0:
        raise SetupError("copying %s failed (rsync rc %d); run the same command again to resume" % (source, rc))


def differences(source, target):
    """What rsync would still change (checksums, not times): empty when the copy is exact."""
    result = run.run(["rsync", "-aH", "--numeric-ids", "--checksum", "--delete", "--dry-run", "--itemize-changes",
                      source + "/", target + "/"], timeout=3600)
    if not result.ok:
        raise SetupError("cannot verify %s against %s: %s" % (target, source, result.last_error_line()))
    return [line for line in result.stdout.splitlines() if line.strip()]


def seed_shared_data(config, out, take_local=False, bwlimit=None):
    """Give every linked directory its copy in the shared data.

    The first host seeds what the shared data lacks from its own directories; a later
    host keeps the shared copy.  With take_local (converting a running MN) this host's
    data is the truth: copied (re-running resumes), then verified by checksum before
    anything local is moved aside.
    """
    shared_dir = config.get("shared", "dir")
    set_aside_root = os.path.join(shared_dir, ".xcatha-replaced", time.strftime("%Y%m%d-%H%M%S"))
    for directory in shared_data.default_dirs(config.get("database", "engine")):
        target = shared_data.target_of(shared_dir, directory)
        local = os.path.isdir(directory) and not shared_data.link_points_into(directory, shared_dir)
        shared_has_it = os.path.isdir(target) and bool(os.listdir(target))
        if shared_has_it and not (take_local and local):
            out("  %s: already in the shared data" % directory)
            continue
        if local and (take_local or os.listdir(directory)):
            if not shared_has_it or differences(directory, target):
                set_aside = set_aside_root + directory if shared_has_it else None
                copy_into_shared(directory, target, out, bwlimit, set_aside)
                if set_aside and os.path.isdir(set_aside):
                    out("  %s: what the shared copy held beyond this host's data is kept in %s"
                        % (directory, set_aside))
            left = differences(directory, target)
            if left:
                raise SetupError("%s differs from %s after copying (%d entries: %s); nothing was moved aside"
                                 % (target, directory, len(left), "; ".join(left[:5])))
            out("  %s: copied to %s and verified" % (directory, target))
        elif not os.path.isdir(target):
            os.makedirs(target, mode=0o700 if directory == "/root/.xcat" else 0o755)
            out("  %s: created empty in the shared data" % directory)


def restore_links(config, out):
    """Undo what xCAT's installer does to the links while this host is being set up:
    xcatconfig's setup-local-client.sh runs `rm -rf ~/.xcat` and makes a new directory, so
    the credentials land on this host's disk instead of the shared data, and the link is
    gone.  The content goes where the link pointed (kept there when the peer put it there
    first: same CA, and the peer already uses it), the directory is set aside, the link is
    made again.  Only while the links are this host's (between `begin` and `finish`)."""
    shared_dir = config.get("shared", "dir")
    if not os.path.exists(shared_data.marker_path(SHARED_DATA_INSTANCE)):
        return
    for directory in shared_data.default_dirs(config.get("database", "engine")):
        target = shared_data.target_of(shared_dir, directory)
        if os.path.islink(directory) or not os.path.isdir(directory) or not os.path.isdir(target):
            continue
        aside = "%s.xcatha-installer-%s" % (directory, time.strftime("%Y%m%d-%H%M%S"))
        if os.listdir(target):
            out("  %s: xCAT's installer replaced the link with a directory; the shared copy is kept, "
                "the installer's is set aside in %s" % (directory, aside))
        else:
            copy_into_shared(directory, target, out)
            out("  %s: xCAT's installer replaced the link with a directory; its content is now in %s "
                "(the directory is set aside in %s)" % (directory, target, aside))
        os.rename(directory, aside)
        os.symlink(target, directory)


SHARED_DATA_INSTANCE = "shared-data"  # the instance name activation.run_agent gives the agent


# ---------------------------------------------------------------- the steps
def begin(config, out, dry_run=False):
    node, peer = whoami(config)
    shared_dir = check_shared_dir(config)
    params = cluster_config.resource_params(config)
    if dry_run:
        out("Would, on %s: bring up the VIP %s with hostname %s, give %s a copy of each of %s where it has "
            "none, and link them." % (node.name, params["vip"]["ip"], params["vip"]["hostname"], shared_dir,
                                      " ".join(shared_data.default_dirs(config.get("database", "engine")))))
        return
    out("On %s:" % node.name)
    _start(config, "vip", out)
    seed_shared_data(config, out)
    _start(config, "shared-data", out)
    if shared_database(config):
        # The peer set xCAT up already: xCAT's installer here (xcatconfig) configures this host
        # against the pair's database, so it must be running, as on the MN.
        _start(config, "db", out)
        out("  the pair's xCAT database (in %s) is up here for the installer" % shared_dir)
    out("Next: install xCAT on %s now (it runs as %s with the VIP %s; the data goes to %s), switch the "
        "database to %s if needed, then run: xcatha setup finish"
        % (node.name, params["vip"]["hostname"], params["vip"]["ip"], shared_dir, config.get("database", "engine")))


def shared_database(config):
    """True when the shared data already holds xCAT's database server (not SQLite files)."""
    if config.get("database", "engine") == "sqlite":
        return False
    return os.path.exists(os.path.join(config.get("shared", "dir"), "etc/xcat/cfgloc"))


def _start(config, name, out):
    params = cluster_config.resource_params(config)[name]
    rc, reason = activation.run_agent(name, "start", params)
    if rc != 0:
        raise SetupError("%s: %s" % (name, reason or "rc %d" % rc))
    out("  %s up" % name)


def finish(config, out, dry_run=False):
    node, peer = whoami(config)
    engine = config.get("database", "engine")
    cfgloc_path = os.path.join(config.get("shared", "dir"), "etc/xcat/cfgloc")
    if dry_run:
        out("Would, on %s: check that %s says %s, disable the xCAT services at boot, enable %s, and "
            "deactivate this host." % (node.name, cfgloc_path, engine, BOOT_CLEANUP_UNIT))
        return
    try:
        cfgloc = db.check_engine(engine, cfgloc_path)
    except db.OcfError as error:
        raise SetupError("%s; switch the database (pgsqlsetup/mysqlsetup) or fix [database] engine in %s"
                         % (error.reason, config.path)) from None
    address = config.get("vip", "ip")
    if cfgloc is not None and cfgloc.host != address:
        raise SetupError("cfgloc says host=%s; it must be the VIP %s (rerun pgsqlsetup/mysqlsetup with the VIP)"
                         % (cfgloc.host, address))
    out("  database: %s, as configured" % engine)
    restore_links(config, out)
    problems = db.access_problems(engine, address, [node.address for node in config.nodes])
    if problems:
        raise SetupError("the database is not reachable the way the pair needs it: %s" % "; ".join(problems))
    if cfgloc is not None:
        out("  %s accepts the VIP %s and both hosts (%s)" % (engine, address,
                                                         " ".join(node.address for node in config.nodes)))
    if config.get("console", "type") == "conserver" and services.adapt_conserver():
        units.daemon_reload()
        out("  conserver: Debian's conserver-server runs the configuration makeconservercf writes")
    changed = False
    for _service, unit, boot in activation.service_units(config):
        disabled = units.disable_at_boot(boot)
        out("  %s: %s" % (" ".join(boot), "disabled at boot" if disabled else "already disabled at boot"))
        changed = units.write_drop_in(unit, persistent=True) or changed
    if changed:
        units.daemon_reload()
    out("  the services are restarted by the cluster only, never by systemd itself (drop-in %s)"
        % units.DROP_IN_NAME)
    units.run.run([units.SYSTEMCTL, "enable", BOOT_CLEANUP_UNIT], timeout=60)
    out("  %s enabled (removes links a crash leaves behind, before the cluster starts)" % BOOT_CLEANUP_UNIT)
    activation.deactivate(config, out, force=True)
    out("%s is set up and deactivated (standby)." % node.name)
    out("Next: if %s is not set up yet, run there: xcatha setup begin; install xCAT; xcatha setup finish. "
        "Then make one host the MN: xcatha activate — or create the cluster (pcs cluster setup) and run "
        "xcatha cluster-config apply." % peer.name)


def convert(config, new_address, out, dry_run=False, bwlimit=None):
    """Scenario 2 on the host that runs xCAT today with the VIP as its own address."""
    params = cluster_config.resource_params(config)
    address = ipaddress.ip_address(params["vip"]["ip"])
    new = ipaddress.ip_interface(new_address)
    links = vip.read_links()
    holding = vip.find(address, links)
    have_new = vip.find(new.ip, links)
    if not holding and not have_new:
        raise SetupError("this host holds neither the VIP %s nor %s: convert runs on the host that runs xCAT "
                         "today with the VIP as its address" % (address, new.ip))
    shared_dir = check_shared_dir(config)
    dirs = shared_data.default_dirs(config.get("database", "engine"))
    if dry_run:
        out("Would: add %s as this host's own address (the VIP %s stays with the MN), stop the xCAT services, "
            "copy %s into %s (resumable, verified), link them (originals moved aside), and deactivate."
            % (new, address, " ".join(dirs), shared_dir))
        return
    if not have_new:
        nic = holding[0].nic
        vip.add(nic, new.ip, new.network.prefixlen)
        out("  %s added on %s. Make it permanent in the network configuration (nmcli/ifcfg/netplan), keeping "
            "%s out of it: from now on the VIP belongs to the MN, not to this host." % (new, nic, address))
    for _service, unit, _boot in reversed(activation.service_units(config)):
        if units.state(unit).active:
            units.run.run([units.SYSTEMCTL, "stop", unit], timeout=300)
            out("  %s stopped (a consistent copy)" % unit)
    seed_shared_data(config, out, take_local=True, bwlimit=bwlimit)
    _start(config, "shared-data", out)
    finish(config, out)
