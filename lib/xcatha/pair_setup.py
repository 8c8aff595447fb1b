"""Setting up the HA pair, in steps an admin can run and re-run (the seed's two scenarios).

Scenario 1, neither host has xCAT yet — on host2 (standby) first, then host1:
    xcatha setup begin    VIP and its hostname up, shared data seeded, links made
    (install xCAT, switch the database if wanted)
    xcatha setup finish   DB type checked, services disabled at boot, host deactivated
    (xcatha setup units   only the unit settings of finish: safe on the active MN)
Scenario 2, host1 already runs xCAT:
    xcatha setup convert --new-ip ADDR   on host1: its address becomes the VIP, its data
                                         copied to the shared dir (progress, resumable,
                                         verified), links made, host1 deactivated
    then host2 as in scenario 1, then `xcatha activate` on host1.
Each step checks what is already done, says what it did and what comes next.
"""
import ipaddress
import os
import re
import time

from xcatha import activation, cluster_config, db, run, services, shared_data, units, vip, xcat_tables

BOOT_CLEANUP_UNIT = "xcatha-boot-cleanup.service"
# A host between `setup begin`/`convert` and `setup finish` runs xCAT without being a finished
# member of the pair: only then may finish deactivate it.  On disk: a reboot mid-setup keeps it.
SETUP_MARKER = "/var/lib/xcatha/setup-in-progress"
COPY_CHECK_TIMEOUT = 6 * 3600  # comparing by size and time: metadata only, even for /install


class SetupError(Exception):
    """A setup step cannot go on; the message says why and what to do."""


whoami = activation.whoami


def check_shared_dir(config):
    shared_dir = config.get("shared", "dir")
    require_mount = cluster_config.require_mount(config)
    try:
        shared_data.check_shared_dir(shared_dir, require_mount)
    except shared_data.OcfError as error:
        raise SetupError(error.reason) from None
    return shared_dir


# ---------------------------------------------------------------- copying into the shared data
RSYNC = ["rsync", "-aHAX", "--numeric-ids"]  # hard links, ACLs, xattrs: xCAT's data keeps them


def copy_into_shared(source, target, out, bwlimit=None, set_aside=None):
    """rsync source/ to target/ with a progress line (bytes, rate, ETA); re-running resumes.

    With set_aside (a directory), target becomes an exact mirror of source: what was in
    target but not in source (a temporary file of an interrupted copy, or older data) is
    moved there rather than deleted.
    """
    os.makedirs(target, exist_ok=True)
    argv = RSYNC + ["--partial", "--info=progress2", "--no-inc-recursive", source + "/", target + "/"]
    if bwlimit:
        argv.insert(1, "--bwlimit=%s" % bwlimit)
    if set_aside:
        argv[1:1] = ["--delete", "--backup", "--backup-dir=%s" % set_aside]
    out("  copying %s -> %s" % (source, target))
    try:
        rc = run.stream(argv, lambda text: out(text, progress=True))
    except FileNotFoundError:
        raise SetupError("rsync is not installed; install it and run the same command again") from None
    out("", progress=False)
    if rc != 0:
        raise SetupError("copying %s failed (rsync rc %d); run the same command again to resume" % (source, rc))


def differences(source, target, checksum=False):
    """What rsync would still change: empty when the copy is complete.  By size and time, which
    reads only metadata (an /install of hundreds of GB is compared in minutes); by checksum only
    for the small database directory, where a torn copy would matter most."""
    argv = RSYNC + ["--delete", "--dry-run", "--itemize-changes", source + "/", target + "/"]
    if checksum:
        argv.insert(2, "--checksum")
    try:
        result = run.run(argv, timeout=COPY_CHECK_TIMEOUT)
    except run.CommandTimeout:
        raise SetupError("comparing %s with %s did not finish within %dh; the copy is kept, nothing was moved "
                         "aside: run the same command again to resume" % (target, source, COPY_CHECK_TIMEOUT // 3600)) \
            from None
    if not result.ok:
        raise SetupError("cannot verify %s against %s: %s" % (target, source, result.last_error_line()))
    return [line for line in result.stdout.splitlines() if line.strip()]


def seed_shared_data(config, out, take_local=False, bwlimit=None):
    """Give every linked directory its copy in the shared data.

    The first host seeds what the shared data lacks from its own directories; a later
    host keeps the shared copy.  With take_local (converting a running MN) this host's
    data is the truth: copied (re-running resumes), then verified before anything local
    is moved aside.
    """
    shared_dir = config.get("shared", "dir")
    engine = config.get("database", "engine")
    db_dir = units.DB_DIRS[engine][units.local_family()]
    set_aside_root = os.path.join(shared_dir, ".xcatha-replaced", time.strftime("%Y%m%d-%H%M%S"))
    for directory in shared_data.default_dirs(engine):
        target = shared_data.target_of(shared_dir, directory)
        local = os.path.isdir(directory) and not shared_data.link_points_into(directory, shared_dir)
        shared_has_it = os.path.isdir(target) and bool(os.listdir(target))
        if shared_has_it and not (take_local and local):
            out("  %s: already in the shared data" % directory)
            continue
        if local and (take_local or os.listdir(directory)):
            checksum = directory == db_dir
            if not shared_has_it or differences(directory, target, checksum):
                set_aside = set_aside_root + directory if shared_has_it else None
                copy_into_shared(directory, target, out, bwlimit, set_aside)
                if set_aside and os.path.isdir(set_aside):
                    out("  %s: what the shared copy held beyond this host's data is kept in %s"
                        % (directory, set_aside))
            left = differences(directory, target, checksum)
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


# ---------------------------------------------------------------- guards
def in_setup():
    return os.path.exists(SETUP_MARKER)


def _mark_setup(node):
    os.makedirs(os.path.dirname(SETUP_MARKER), exist_ok=True)
    with open(SETUP_MARKER, "w", encoding="utf-8") as stream:
        stream.write(node.name + "\n")


def refuse_on_active_mn(config, what):
    """`what` would take the MN down or pull its data away: refuse on a host that is the MN
    outside of its own setup, and wherever Pacemaker manages the group."""
    if activation.pacemaker_manages_group():
        raise SetupError("Pacemaker manages the group %s here: %s would act behind its back; nothing was changed"
                         " (to move the MN: pcs resource move %s <node>)" % (cluster_config.GROUP, what,
                                                                             cluster_config.GROUP))
    if in_setup():
        return
    signs = activation.active_here(config)
    if signs:
        raise SetupError("this host is the active MN (%s): %s would take it down; nothing was changed. To make "
                         "it a standby: xcatha deactivate; to install only the unit settings: xcatha setup units"
                         % (", ".join(signs), what))


def shared_data_in_use(config, links):
    """Why the shared data must not be overwritten from this host's directories (empty: it may be)."""
    shared_dir = config.get("shared", "dir")
    reasons = []
    holder = shared_data.lease_holder(shared_dir)
    if holder:
        reasons.append("%s holds the shared data's lease (%s)" % (holder, os.path.join(shared_dir,
                                                                                      shared_data.LEASE_NAME)))
    linked = [d for d in shared_data.default_dirs(config.get("database", "engine"))
              if shared_data.link_points_into(d, shared_dir)]
    if linked:
        reasons.append("%s already link(s) into %s" % (" ".join(linked), shared_dir))
    engine = config.get("database", "engine")
    if engine in db.LOCK_FILES:
        server = db.engine_for(engine, config.get("database", "unit"), config.get("database", "datadir"))
        lock = os.path.join(shared_data.target_of(shared_dir, server.datadir), db.LOCK_FILES[engine])
        if os.path.exists(lock):
            reasons.append("the shared database has a server lock (%s): a server may be running on it" % lock)
    if activation.pacemaker_manages_group():
        reasons.append("Pacemaker manages the group %s" % cluster_config.GROUP)
    address = ipaddress.ip_address(config.get("vip", "ip"))
    if not vip.find(address, links) and address.version == 4:
        nic = config.get("vip", "nic") or vip.derive_nic(address, links)[0]
        conflict = vip.arp_probe(nic, address, **vip.RFC5227_PROBE) if nic else None
        if conflict:
            reasons.append("another host (MAC %s) answers for the VIP %s" % (conflict, address))
    return reasons


def stop_for_copy(config, out):
    """Stop the xCAT services for a consistent copy; refuse to copy a database that did not stop."""
    for _service, unit, _boot in reversed(activation.service_units(config)):
        if units.state(unit).active:
            result = units.run.run([units.SYSTEMCTL, "stop", unit], timeout=300)
            if not result.ok or units.state(unit).active:
                raise SetupError("%s did not stop (%s): its data cannot be copied consistently; nothing was "
                                 "copied" % (unit, result.last_error_line()))
            out("  %s stopped (a consistent copy)" % unit)
    engine = config.get("database", "engine")
    if engine != "sqlite":
        server = db.engine_for(engine, config.get("database", "unit"), config.get("database", "datadir"))
        left = server.server_processes()
        if left:
            raise SetupError("database server process(es) %s still run in %s: the database cannot be copied "
                             "consistently; stop them, then run the same command again (nothing was copied)"
                             % (" ".join(map(str, left)), server.datadir))


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
    if activation.pacemaker_manages_group():
        raise SetupError("Pacemaker manages the group %s: the pair is set up already; nothing was changed"
                         % cluster_config.GROUP)
    out("On %s:" % node.name)
    activation.prove_peer_down(config, out)
    _mark_setup(node)
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


def install_units(config, out):
    """The unit settings of a pair member: services disabled at boot, never restarted by
    systemd itself, the boot cleanup enabled.  Changes no running service."""
    changed = False
    if cluster_config.dhcp_backend(config) == "isc" and services.adapt_dhcpd():
        changed = True  # takes effect at dhcpd's next start
        out("  dhcpd: a native unit runs ISC dhcpd (%s), without the init script's 2 s sleep"
            % services.DHCPD_DEBIAN_UNIT)
    for service, unit, boot in activation.service_units(config):
        if service == "postgresql" and db.adapt_postgresql(unit):
            changed = True  # takes effect at the server's next start
            out("  %s: the postmaster runs without pg_ctlcluster's 2 s of sleeps (%s)" % (unit, db.PG_DEBIAN_DROP_IN))
        disabled = units.disable_at_boot(boot)
        out("  %s: %s" % (" ".join(boot), "disabled at boot" if disabled else "already disabled at boot"))
        changed = units.write_drop_in(unit, service, persistent=True) or changed
    if changed:
        units.daemon_reload()
    out("  the services are restarted by the cluster only, never by systemd itself (drop-in %s)"
        % units.DROP_IN_NAME)
    result = units.run.run([units.SYSTEMCTL, "enable", BOOT_CLEANUP_UNIT], timeout=60)
    if not result.ok:
        raise SetupError("systemctl enable %s failed: %s" % (BOOT_CLEANUP_UNIT, result.last_error_line()))
    out("  %s enabled (removes links a crash leaves behind, before the cluster starts)" % BOOT_CLEANUP_UNIT)
    install_backup_timer(config, out)
    install_sync_watch(config, out)


def install_backup_timer(config, out):
    """The nightly dumpxCATdb at [backup] time (a drop-in of the packaged timer), enabled and started:
    it runs on both hosts and backs up only where the group runs."""
    from xcatha import backup
    directory, keep, when = backup.settings(config)
    if units.write_file("/etc/systemd/system/%s.d/%s" % (backup.TIMER, units.DROP_IN_NAME),
                        backup.timer_drop_in(config)):
        units.daemon_reload()
    result = units.run.run([units.SYSTEMCTL, "enable", "--now", backup.TIMER], timeout=60)
    if not result.ok:
        raise SetupError("systemctl enable --now %s failed: %s" % (backup.TIMER, result.last_error_line()))
    out("  %s enabled: dumpxCATdb at %s into %s (the %d newest kept), where the group runs"
        % (backup.TIMER, backup.calendar(when), directory, keep))


SYNC_PATH_UNIT = "xcatha-sync.path"
SYNC_DROP_IN = "/etc/systemd/system/xcatha-sync.path.d/50-files.conf"
SYNC_QUIET = 0.5  # the path unit's push waits out a burst of changes (file_sync.push)


def sync_watch_drop_in(files):
    """The path unit's watch list for [sync] files when they differ from the packaged defaults
    (a glob is watched through its directory); None: the packaged list fits."""
    from xcatha import file_sync
    if tuple(files) == file_sync.DEFAULT_FILES:
        return None
    watched = sorted({os.path.dirname(f) if any(c in f for c in "*?[") else f for f in files})
    return ("# Written by xcatha setup units from [sync] files.\n[Path]\nPathChanged=\n"
            + "".join("PathChanged=%s\n" % path for path in watched))


def install_sync_watch(config, out):
    """xcatha-sync.path enabled and watching [sync] files: they follow the active MN."""
    files = cluster_config.sync_files(config)
    text = sync_watch_drop_in(files)
    changed = units.write_file(SYNC_DROP_IN, text) if text else False
    if not text and os.path.exists(SYNC_DROP_IN):
        os.unlink(SYNC_DROP_IN)
        changed = True
    if changed:
        units.daemon_reload()
    action = ["enable", "--now"] if files else ["disable", "--now"]
    result = units.run.run([units.SYSTEMCTL, *action, SYNC_PATH_UNIT], timeout=60)
    if not result.ok:
        raise SetupError("systemctl %s %s failed: %s" % (" ".join(action), SYNC_PATH_UNIT, result.last_error_line()))
    out("  %s %s" % (SYNC_PATH_UNIT, "enabled: %s follow the active MN" % " ".join(files) if files
                     else "disabled ([sync] files is empty)"))


def units_step(config, out, dry_run=False):
    node, _peer = whoami(config)
    if dry_run:
        out("Would, on %s: disable the xCAT services at boot, install the drop-in %s and enable %s; no running "
            "service is touched." % (node.name, units.DROP_IN_NAME, BOOT_CLEANUP_UNIT))
        return
    install_units(config, out)
    _record_versions(config, node, out)


def _record_versions(config, node, out):
    """With a cluster running here: this host's versions, for the peer's `xcatha check`."""
    from xcatha import preflight
    try:
        running = run.run(["cibadmin", "--query", "--scope", "nodes"], timeout=10, quiet=True).ok
    except (FileNotFoundError, run.CommandTimeout):
        running = False
    if running and preflight.record_versions(config, node):
        out("  this host's xCAT and database versions recorded in the cluster (for xcatha check)")


def sync_push(config):
    """`xcatha sync push`: the files that follow the MN into the shared data; None (nothing done)
    unless this host holds the group: started here since boot, and the lease names it."""
    from xcatha import file_sync
    shared_dir = config.get("shared", "dir")
    holder = shared_data.lease_holder(shared_dir)
    own = shared_data.own_name()
    if not os.path.exists(shared_data.marker_path(SHARED_DATA_INSTANCE)) or holder is None or \
            holder.split(".")[0] != own.split(".")[0]:
        return None
    copied, _gone = file_sync.push(shared_dir, cluster_config.sync_files(config), own, quiet=SYNC_QUIET)
    return copied


def record_facts(config):
    """`xcatha sync facts`: this host's versions and clock offset, for the other host's check."""
    from xcatha import parity
    shared_dir = check_shared_dir(config)
    return parity.record(shared_dir, whoami(config)[0].name, config.get("database", "engine"))


def finish(config, out, dry_run=False):
    node, peer = whoami(config)
    engine = config.get("database", "engine")
    cfgloc_path = cluster_config.cfgloc_path(config)
    if dry_run:
        out("Would, on %s: check that %s says %s, disable the xCAT services at boot, enable %s, and "
            "deactivate this host." % (node.name, cfgloc_path, engine, BOOT_CLEANUP_UNIT))
        return
    refuse_on_active_mn(config, "setup finish")
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
    install_units(config, out)
    _record_versions(config, node, out)
    xcat_tables.apply_owned(config, out)
    activation.deactivate(config, out, force=True)
    if in_setup():
        os.unlink(SETUP_MARKER)
    out("%s is set up and deactivated (standby)." % node.name)
    out("Next: if %s is not set up yet, run there: xcatha setup begin; install xCAT; xcatha setup finish. "
        "Then make one host the MN: xcatha activate — or create the cluster (pcs cluster setup) and run "
        "xcatha cluster-config apply." % peer.name)


BWLIMIT = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,6})?[bBkKmMgGtTpP]?$")   # rsync's --bwlimit=RATE


def convert(config, new_address, out, dry_run=False, bwlimit=None):
    """Scenario 2 on the host that runs xCAT today with the VIP as its own address."""
    if bwlimit is not None and not BWLIMIT.match(bwlimit):
        raise SetupError("--bwlimit %s is not a rate rsync takes (e.g. 50M, 1.5G, 800K)" % bwlimit)
    params = cluster_config.resource_params(config)
    address = ipaddress.ip_address(params["vip"]["ip"])
    try:
        new = ipaddress.ip_interface(new_address)
    except ValueError:
        raise SetupError("--new-ip %s is not an address with a prefix length (e.g. 192.0.2.21/24)"
                         % new_address) from None
    if new.ip == address:
        raise SetupError("--new-ip %s is the VIP itself; give this host an address of its own" % new.ip)
    links = vip.read_links()
    holding = vip.find(address, links)
    have_new = vip.find(new.ip, links)
    if not holding:
        raise SetupError("this host does not hold the VIP %s: convert runs once, on the host that runs xCAT "
                         "today with the VIP as its address%s; nothing was changed"
                         % (address, " (it was converted already: make it the MN with xcatha activate)"
                            if have_new else ""))
    shared_dir = check_shared_dir(config)
    dirs = shared_data.default_dirs(config.get("database", "engine"))
    in_use = shared_data_in_use(config, links)
    if in_use:
        raise SetupError("the shared data %s is in use (%s): converting would overwrite it with this host's "
                         "older data; nothing was changed" % (shared_dir, "; ".join(in_use)))
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
    _mark_setup(whoami(config)[0])
    stop_for_copy(config, out)
    seed_shared_data(config, out, take_local=True, bwlimit=bwlimit)
    _start(config, "shared-data", out)
    finish(config, out)


def boot_cleanup(config, out):
    """Remove links into the shared data that a crash left behind; refused on the active MN."""
    shared_dir = config.get("shared", "dir")
    dirs = shared_data.default_dirs(config.get("database", "engine"))
    if os.path.exists(shared_data.marker_path("shared-data")):
        raise SetupError("this host is the active MN (shared-data was started here since boot): its links are "
                         "in use; nothing was changed (xcatha deactivate makes it a standby)")
    running = [unit for _s, unit, _b in activation.service_units(config) if units.state(unit).active]
    if running:
        raise SetupError("%s run(s) here: this host may be the MN; nothing was changed (xcatha deactivate "
                         "makes it a standby)" % " ".join(running))
    stale = [d for d in dirs if shared_data.link_points_into(d, shared_dir)]
    shared_data.stop(shared_dir, dirs, shared_data.DEFAULT_SUFFIX, "shared-data")
    out("removed %d stale link(s) into %s: %s" % (len(stale), shared_dir, " ".join(stale)) if stale
        else "no stale links into %s" % shared_dir)
