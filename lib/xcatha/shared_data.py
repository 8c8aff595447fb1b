"""The directories that live on the shared storage, reached through symlinks.

``/install -> /HA-data/install`` and so on.  What is in the way of a link (a
real directory, a file, a foreign link) is moved aside to ``<dir><suffix>`` —
never deleted — and put back when the link is removed.  Only links that point
into the shared directory are ever removed.  The moved-aside names are the
state, so a stop after a reboot still restores the originals.
"""
import os
import socket

from xcatha import run, units
from xcatha.log import log
from xcatha.ocf import STATE_DIR, ExitCode, OcfError

XCAT_DIRS = ["/install", "/etc/xcat", "/root/.xcat", "/tftpboot"]
DEFAULT_SUFFIX = ".xcatha-local"

# Moving one of these aside would break the host, whatever a parameter says.
ESSENTIAL_DIRS = {
    "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media", "/mnt",
    "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var", "/var/lib",
    "/var/log", "/var/run", "/var/tmp", "/var/cache", "/var/spool", "/usr/bin", "/usr/sbin",
    "/usr/lib", "/usr/local", "/etc/systemd", "/etc/ssh", "/var/lib/pacemaker", "/var/lib/corosync",
    "/etc/corosync", "/etc/pacemaker", "/opt/xcat",
}

PROBE_CODE = (  # runs in a child so that a dead NFS server hangs the child, not the agent
    "import errno,os,sys\n"
    "path=sys.argv[1]; token=sys.argv[2].encode()\n"
    "try:\n"
    "    with open(path+'.tmp','wb') as f:\n"
    "        f.write(token); f.flush(); os.fsync(f.fileno())\n"
    "    os.replace(path+'.tmp',path)\n"
    "    with open(path,'rb') as f:\n"
    "        sys.exit(0 if f.read()==token else 3)\n"
    "except OSError as e:\n"
    "    sys.stderr.write('%s: %s\\n' % (e.filename or path, e.strerror))\n"
    "    sys.exit(4 if e.errno in (errno.ENOSPC,errno.EDQUOT) else 1)\n")
PROBE_FULL = 4   # the probe's exit status above when the filesystem (or the quota) is full


def default_dirs(engine, family=None):
    family = family or units.local_family()
    db_dirs = [units.DB_DIRS[engine][family], units.DB_CONFIG_DIRS.get(engine, {}).get(family)]
    return XCAT_DIRS + [d for d in db_dirs if d and d not in XCAT_DIRS]


def check_layout(shared_dir, dirs, suffix):
    """Refuse (rc 6) what can never be right on any node."""
    if shared_dir == "/" or shared_dir in ESSENTIAL_DIRS:
        raise OcfError(ExitCode.ERR_CONFIGURED, "shared_dir %s cannot be a system directory" % shared_dir)
    if not suffix or "/" in suffix or suffix in (".", ".."):
        raise OcfError(ExitCode.ERR_CONFIGURED, "backup_suffix %r must be a non-empty file name suffix"
                       % suffix)
    if len(set(dirs)) != len(dirs):
        raise OcfError(ExitCode.ERR_CONFIGURED, "dirs lists a directory twice")
    for directory in dirs:
        if directory == "/" or directory in ESSENTIAL_DIRS:
            raise OcfError(ExitCode.ERR_CONFIGURED, "dirs: %s is a system directory; it cannot become a "
                           "link" % directory)
        if _within(directory, shared_dir):
            raise OcfError(ExitCode.ERR_CONFIGURED, "dirs: %s is inside shared_dir %s" % (directory, shared_dir))
        if _within(shared_dir, directory):
            raise OcfError(ExitCode.ERR_CONFIGURED, "shared_dir %s is inside %s, which would become a link"
                           % (shared_dir, directory))
        for other in dirs:
            if other != directory and _within(other, directory):
                raise OcfError(ExitCode.ERR_CONFIGURED, "dirs: %s is inside %s" % (other, directory))


def _within(path, directory):
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def target_of(shared_dir, directory):
    return shared_dir.rstrip("/") + directory


def link_points_into(path, shared_dir):
    """The link's target when it points into shared_dir, else None (not a link, or foreign)."""
    try:
        target = os.readlink(path)
    except OSError:
        return None
    if not os.path.isabs(target):
        target = os.path.join(os.path.dirname(path), target)
    target = os.path.normpath(target)
    return target if _within(target, shared_dir) else None


def link_state(shared_dir, directory):
    """'linked' (correct link), 'stale' (a link into shared_dir, wrong target), or 'absent'."""
    target = link_points_into(directory, shared_dir)
    if target is None:
        return "absent"
    return "linked" if target == target_of(shared_dir, directory) else "stale"


def mount_points(mountinfo="/proc/self/mountinfo"):
    points = set()
    with open(mountinfo, encoding="utf-8", errors="replace") as stream:
        for line in stream:
            fields = line.split()
            if len(fields) > 4:
                points.add(fields[4].replace("\\040", " "))
    return points


def check_shared_dir(shared_dir, require_mount):
    """The shared storage must be here, mounted if required, and safe to trust."""
    if not os.path.isdir(shared_dir):
        raise OcfError(ExitCode.ERR_GENERIC, "shared_dir %s is not present on this node" % shared_dir)
    if require_mount and shared_dir not in mount_points():
        raise OcfError(ExitCode.ERR_GENERIC, "shared_dir %s is not a mount point (require_mount=true): "
                       "is the shared storage mounted?" % shared_dir)
    info = os.stat(shared_dir)
    if info.st_uid != 0 or info.st_mode & 0o022:
        raise OcfError(ExitCode.ERR_ARGS, "shared_dir %s must be owned by root and not writable by group "
                       "or others (mode %o, uid %d)" % (shared_dir, info.st_mode & 0o7777, info.st_uid))


# The lease on the shared storage: which host linked the shared data last.  Start writes it,
# stop removes it (only its own); after a crash it keeps naming the host that may still be
# alive and writing, which `xcatha activate` on the other host must prove is down.
LEASE_NAME = ".xcatha-active"


def own_name():
    """This host's own name, not the VIP's hostname that the vip agent sets while it is the MN."""
    from xcatha import vip
    return vip.static_hostname() or socket.gethostname()


def lease_holder(shared_dir):
    """The host named by the lease, or None when no host holds it."""
    try:
        with open(os.path.join(shared_dir, LEASE_NAME), encoding="utf-8") as stream:
            return stream.read().strip() or None
    except FileNotFoundError:
        return None


def take_lease(shared_dir):
    path = os.path.join(shared_dir, LEASE_NAME)
    with open(path + ".tmp", "w", encoding="utf-8") as stream:
        stream.write(own_name() + "\n")
    os.replace(path + ".tmp", path)


RELEASE_CODE = (  # in a child, like the storage probe: a dead NFS server must not hang a stop
    "import os,sys\n"
    "path=sys.argv[1]\n"
    "try:\n"
    "    held=open(path).read().strip()\n"
    "except FileNotFoundError:\n"
    "    sys.exit(0)\n"
    "if held==sys.argv[2]:\n"
    "    os.unlink(path)\n")


def release_lease(shared_dir, timeout=10.0):
    """Remove the lease when it names this host.  Storage that does not answer leaves it in
    place: the other host then has to prove this one is down, which is the safe side."""
    path = os.path.join(shared_dir, LEASE_NAME)
    try:
        result = run.run([run.python(), "-I", "-c", RELEASE_CODE, path, own_name()], timeout=timeout)
    except run.CommandTimeout:
        log.warning("the shared storage %s does not answer; its lease is left in place", shared_dir)
        return
    if not result.ok:
        log.warning("cannot release the lease %s: %s", path, result.last_error_line())


def marker_path(instance):
    return os.path.join(STATE_DIR, "xcatha-shared-data-%s.active" % instance)


def status(shared_dir, dirs, instance):
    """(code, reason) from the links alone: all correct and started here -> 0, none -> 7, else 1."""
    states = {directory: link_state(shared_dir, directory) for directory in dirs}
    linked = [d for d, state in states.items() if state == "linked"]
    if len(linked) == len(dirs):
        if not os.path.exists(marker_path(instance)):
            # /run is empty after a reboot: these links were left by a node that crashed
            # while active.  Reporting them as running would make Pacemaker see the
            # group "active on 2 nodes" and stop it everywhere.
            return ExitCode.NOT_RUNNING, "links from before a reboot; not started here"
        return ExitCode.SUCCESS, "all %d links point into %s" % (len(dirs), shared_dir)
    if not linked and "stale" not in states.values():
        return ExitCode.NOT_RUNNING, "no links into %s" % shared_dir
    wrong = ", ".join("%s (%s)" % (d, s) for d, s in states.items() if s != "linked")
    if not os.path.exists(marker_path(instance)):
        # Not started here since boot: leftovers of a crash, not a running resource.  1 would
        # make Pacemaker see the group active on two nodes and restart it on the healthy MN.
        return ExitCode.NOT_RUNNING, "leftover links, not started here: %s" % wrong
    return ExitCode.ERR_GENERIC, "partially linked: %s" % wrong


def check_storage(shared_dir, deadline):
    """Write and read back a status file in shared_dir, bounded by the deadline.  A full
    filesystem is DEGRADED, not a failure: restarting or moving the group cannot free space
    (the other host has the same storage), and the database refuses writes by itself."""
    path = os.path.join(shared_dir, ".xcatha-status-%s" % socket.gethostname())
    budget = max(min(deadline.share(0.8), 30.0), 0.5)
    try:
        result = run.run([run.python(), "-I", "-c", PROBE_CODE, path, str(os.getpid())], timeout=budget)
    except run.CommandTimeout:
        raise OcfError(ExitCode.ERR_GENERIC, "shared storage %s does not answer (no write+read within %.0fs)"
                       % (shared_dir, budget)) from None
    if result.rc == PROBE_FULL:
        raise OcfError(ExitCode.DEGRADED, "the shared filesystem %s is full (%s): xCAT's database refuses "
                       "writes until space is freed there" % (shared_dir, result.last_error_line()))
    if not result.ok:
        raise OcfError(ExitCode.ERR_GENERIC, "cannot write and read back %s: %s"
                       % (path, result.last_error_line()))


def install_synced(shared_dir, sync_files):
    """The files that follow the MN, as the last MN left them (file_sync); a problem is
    logged, never fatal: the services can run with the local copies."""
    if not sync_files:
        return
    from xcatha import file_sync
    try:
        file_sync.pull(shared_dir, sync_files, (own_name(),))
    except OSError as error:
        log.warning("sync: cannot install the files that follow the MN from %s: %s", shared_dir, error)


def record_facts(shared_dir, engine):
    """This host's versions and clock into the shared data (parity), for the other host's check:
    a few quick commands; a problem is logged, never fatal."""
    from xcatha import parity
    try:
        parity.record(shared_dir, own_name(), engine)
    except (OSError, run.CommandTimeout) as error:
        log.warning("cannot record this host's versions in %s: %s", shared_dir, error)


def first_push(shared_dir, sync_files):
    """The first MN of the pair gives the shared data its first copy (the path unit pushes
    changes only); later starts never push: what a previous MN left is the truth."""
    from xcatha import file_sync
    if not sync_files or file_sync.read_manifest(shared_dir) is not None:
        return
    try:
        file_sync.push(shared_dir, sync_files, own_name())
    except OSError as error:
        log.warning("sync: cannot copy the files that follow the MN into %s: %s", shared_dir, error)


def push_synced(shared_dir, sync_files, timeout=10.0):
    """The last push before this host lets go (the path unit may be off, or a change too recent);
    in a child, like the lease's release: storage that does not answer must not hang a stop."""
    argv = [run.python(), "-I", "-m", "xcatha.file_sync", "push", shared_dir, own_name(), *sync_files]
    try:
        result = run.run(argv, timeout=timeout)
    except run.CommandTimeout:
        log.warning("sync: the shared storage %s does not answer; the files were not pushed", shared_dir)
        return
    if not result.ok:
        log.warning("sync: pushing the files that follow the MN failed: %s", result.last_error_line())


def start(shared_dir, dirs, suffix, require_mount, instance, sync_files=(), deadline=None):
    if deadline is not None:
        # Storage that hangs must fail this start in time, not hang it until the executor kills
        # it: first what needs no access to it, then a bounded probe, then the rest.
        if require_mount and shared_dir not in mount_points():
            check_shared_dir(shared_dir, require_mount)
        try:
            check_storage(shared_dir, deadline)
        except OcfError as error:
            if error.code != ExitCode.DEGRADED:
                raise
            log.warning("%s", error.reason)
    check_shared_dir(shared_dir, require_mount)
    missing = [target_of(shared_dir, d) for d in dirs if not os.path.isdir(target_of(shared_dir, d))]
    if missing:
        raise OcfError(ExitCode.ERR_GENERIC, "the shared data lacks %s; populate it first (xcatha setup)"
                       % ", ".join(missing))
    for directory in dirs:
        _make_link(shared_dir, directory, suffix)
    # Before the marker: the path unit's push runs only on a host that is marked, so it
    # never copies this host's stale files over the ones the last MN left.
    install_synced(shared_dir, sync_files)
    os.makedirs(STATE_DIR, exist_ok=True)
    with open(marker_path(instance), "w", encoding="utf-8") as stream:
        stream.write(shared_dir + "\n")
    take_lease(shared_dir)
    first_push(shared_dir, sync_files)
    code, reason = status(shared_dir, dirs, instance)
    if code != ExitCode.SUCCESS:
        raise OcfError(ExitCode.ERR_GENERIC, "after linking: %s" % reason)


def _make_link(shared_dir, directory, suffix):
    target = target_of(shared_dir, directory)
    if link_state(shared_dir, directory) == "linked":
        return
    parent = os.path.dirname(directory)
    if not os.path.isdir(parent):
        raise OcfError(ExitCode.ERR_GENERIC, "cannot link %s: %s does not exist" % (directory, parent))
    if os.path.lexists(directory):
        if link_points_into(directory, shared_dir):
            os.unlink(directory)  # our own link with a wrong target: nothing of the user's is lost
        else:
            backup = directory + suffix
            if os.path.lexists(backup):
                raise OcfError(ExitCode.ERR_GENERIC, "both %s and %s exist; move one of them away by hand "
                               "(nothing was changed)" % (directory, backup))
            try:
                os.rename(directory, backup)
            except OSError as error:  # a mount point, or another filesystem: a person must decide
                raise OcfError(ExitCode.ERR_GENERIC, "cannot move %s aside to %s (%s); move it by hand"
                               % (directory, backup, error.strerror)) from None
            log.warning("moved %s aside to %s", directory, backup)
    temporary = directory + ".xcatha-new"
    if os.path.lexists(temporary):
        os.unlink(temporary)
    os.symlink(target, temporary)
    os.rename(temporary, directory)
    log.info("linked %s -> %s", directory, target)


def stop(shared_dir, dirs, suffix, instance, sync_files=()):
    if sync_files and os.path.exists(marker_path(instance)):
        push_synced(shared_dir, sync_files)
    for directory in dirs:
        if link_points_into(directory, shared_dir):
            os.unlink(directory)
            log.info("removed link %s", directory)
        backup = directory + suffix
        if not os.path.lexists(directory) and os.path.lexists(backup):
            os.rename(backup, directory)
            log.info("restored %s from %s", directory, backup)
    marker = marker_path(instance)
    if os.path.exists(marker):
        os.unlink(marker)
    left = [d for d in dirs if link_points_into(d, shared_dir)]
    if left:
        raise OcfError(ExitCode.ERR_GENERIC, "links still present: %s" % ", ".join(left))
    release_lease(shared_dir)
