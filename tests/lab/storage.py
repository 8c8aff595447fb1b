"""Shared data on storage that can fail the way a network filesystem does (LabConfig.shared_storage
= "fuse"): an ext4 filesystem in an image file (a loop device) on the host, served to both nodes
through a FUSE server (bindfs), which the fault run can freeze (every access hangs, in D state,
as on a hard NFS mount whose server stopped answering), kill (every access fails with ENOTCONN,
as on a dead soft mount) and fill up.

Why not NFS, as xCAT's HA guide has it: this kernel has neither the NFS client nor nfsd
(/proc/filesystems lists no nfs, no modules can be loaded), nor device-mapper or NBD for a
failing block device; loop and FUSE are there.  Why FUSE and not the loop device alone: a
loop device cannot be made to hang or fail under a mounted filesystem without device-mapper.

The host's HA-data is a shared mount (a bind onto itself); the FUSE server's mount is bound on
it, so a node's /HA-data (nspawn binds it) is a peer of that mount: a new server mounted on top
after one died shows in the running nodes at once, as a remounted export does.
"""
import os
import signal
import time

from .util import all_pids, is_mounted, log, read_cmdline, run

SIZE = "640M"   # the built pair's shared data takes about 150 MB: room for the run, small enough to fill


def enabled(cfg) -> bool:
    return getattr(cfg, "shared_storage", "") == "fuse"


def image(cfg):
    return cfg.workdir / "storage.img"


def backing(cfg):
    """The filesystem itself, mounted on the host (the server's side)."""
    return cfg.workdir / "storage"


def served(cfg):
    """Where the FUSE server mounts it before it is bound onto HA-data."""
    return cfg.workdir / "storage-served"


def host_view(cfg):
    """Where the host reads the shared data: on the failing storage, the server's side (a read
    through the cut FUSE mount would hang the test run itself in D state)."""
    return backing(cfg) if enabled(cfg) else cfg.shared_data


def create(cfg) -> None:
    """A fresh, empty filesystem, served at HA-data."""
    teardown(cfg)
    image(cfg).unlink(missing_ok=True)
    run(["truncate", "-s", SIZE, image(cfg)])
    # -m 0: no blocks kept for root, so that root's daemons (xcatd) meet a full filesystem too
    run(["mkfs.ext4", "-q", "-F", "-m", "0", image(cfg)])
    backing(cfg).mkdir(parents=True, exist_ok=True)
    run(["mount", "-o", "loop", image(cfg), backing(cfg)])
    os.chmod(backing(cfg), 0o755)
    data = cfg.shared_data
    data.mkdir(parents=True, exist_ok=True)
    run(["mount", "--bind", data, data])
    run(["mount", "--make-shared", data])
    serve(cfg)


def serve(cfg) -> None:
    """(Again) a FUSE server for the filesystem, bound on top of HA-data: the nodes see it."""
    mount_point = served(cfg)
    if is_mounted(mount_point):
        run(["umount", "-l", mount_point], check=False)
    mount_point.mkdir(parents=True, exist_ok=True)
    run(["bindfs", "-o", "allow_other", backing(cfg), mount_point])
    run(["mount", "--bind", mount_point, cfg.shared_data])
    log.info("storage: %s served at %s (pids %s)", backing(cfg), cfg.shared_data, server_pids(cfg))


def server_pids(cfg) -> list:
    """The FUSE servers of this lab's storage (a dead one's successor included)."""
    source = str(backing(cfg))
    found = []
    for pid in all_pids():
        argv = read_cmdline(pid)
        if argv and argv[0].endswith("bindfs") and source in argv:
            found.append(pid)
    return found


def signal_servers(cfg, signum) -> list:
    pids = server_pids(cfg)
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
    return pids


def freeze(cfg) -> list:
    """Every access to the shared data hangs from now on (the server stopped answering)."""
    return signal_servers(cfg, signal.SIGSTOP)


def thaw(cfg) -> list:
    return signal_servers(cfg, signal.SIGCONT)


def kill(cfg) -> list:
    """The server is gone: every access fails (ENOTCONN) until serve() mounts a new one."""
    thaw(cfg)
    return signal_servers(cfg, signal.SIGKILL)


FILLER = ".lab-filler"


def fill(cfg) -> int:
    """Take every free block of the filesystem (from the host, not through FUSE); returns the
    bytes taken."""
    path = backing(cfg) / FILLER
    taken = 0
    with open(path, "ab") as stream:
        chunk = os.statvfs(backing(cfg)).f_bavail * os.statvfs(backing(cfg)).f_frsize
        while chunk >= 4096:
            try:
                os.posix_fallocate(stream.fileno(), taken, chunk)
                taken += chunk
            except OSError:
                chunk //= 2
    log.info("storage: filled %s (%d bytes taken, %d left)", backing(cfg), taken, free_bytes(cfg))
    return taken


def free_bytes(cfg) -> int:
    stats = os.statvfs(backing(cfg))
    return stats.f_bavail * stats.f_frsize


def unfill(cfg) -> None:
    (backing(cfg) / FILLER).unlink(missing_ok=True)


def teardown(cfg) -> None:
    """The servers ended (a frozen one thawed first), every mount of the storage gone."""
    if not image(cfg).exists() and not server_pids(cfg):
        return
    kill(cfg)
    for mount_point in (cfg.shared_data, served(cfg), backing(cfg)):
        for _ in range(5):   # HA-data holds several mounts, one on the other
            if not is_mounted(mount_point):
                break
            run(["umount", "-l", mount_point], check=False)
            time.sleep(0.1)
