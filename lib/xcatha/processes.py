"""Processes of the services: who works in a directory, who listens where, and stopping them for sure.

psutil is imported only here and only when needed: a depth-0 monitor never pays for it.
"""
import os
import signal
import time

from xcatha.log import log


def _psutil():
    import psutil
    return psutil


def alive(pid):
    """True for a live (not zombie) process."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as stream:
            return stream.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def executable_name(pid):
    """The basename of the process's executable, or None (gone, or a kernel thread)."""
    try:
        return os.path.basename(os.readlink("/proc/%d/exe" % pid)).replace(" (deleted)", "")
    except OSError:
        return None


def servers_in(directory, executables):
    """Pids of server processes (by executable name) working in directory: a database server
    chdirs into its data; an admin's shell or a pg_dump there is none of ours to kill."""
    return [pid for pid in in_directory(directory) if executable_name(pid) in executables]


def in_directory(directory):
    """Pids of live processes whose working directory is this directory (servers chdir into their data)."""
    try:
        wanted = os.path.realpath(directory)
    except OSError:
        return []
    if not os.path.isdir(wanted):
        return []
    psutil = _psutil()
    found = []
    for process in psutil.process_iter(["pid"]):
        try:
            if process.cwd() == wanted and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process.pid)
        except (psutil.Error, OSError):
            continue
    return found


def matching(fragment):
    """Pids of live processes whose command line contains fragment."""
    psutil = _psutil()
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            if fragment in " ".join(process.info["cmdline"] or []) and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process.pid)
        except (psutil.Error, OSError):
            continue
    return [pid for pid in found if pid != os.getpid()]


def terminate(pids, deadline, grace=5.0, first_signal=signal.SIGTERM):
    """Signal, wait up to grace seconds, then SIGKILL what is left and wait for it to go."""
    pids = [pid for pid in pids if alive(pid)]
    for pid in pids:
        _signal(pid, first_signal)
    end = time.monotonic() + min(grace, deadline.remaining())
    while any(alive(pid) for pid in pids) and time.monotonic() < end:
        time.sleep(0.05)
    stubborn = [pid for pid in pids if alive(pid)]
    for pid in stubborn:
        log.warning("pid %d survived signal %d; sending SIGKILL", pid, first_signal)
        _signal(pid, signal.SIGKILL)
    end = time.monotonic() + min(5.0, deadline.remaining())
    while any(alive(pid) for pid in stubborn) and time.monotonic() < end:
        time.sleep(0.05)
    return [pid for pid in pids if alive(pid)]


def _signal(pid, number):
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        pass


def unit_processes(control_group):
    """Pids in a unit's cgroup (v2 or the v1 systemd hierarchy): every child it ever forked."""
    for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"):
        path = root + control_group + "/cgroup.procs"
        try:
            with open(path, encoding="ascii") as stream:
                return [int(line) for line in stream if line.strip() and alive(int(line))]
        except OSError:
            continue
    return []


# The monitors' port checks read /proc/net directly: psutil's import alone costs
# about as much as a whole stock monitor, and these checks run every few seconds.
_LISTEN_STATES = {"tcp": "0A", "udp": "07"}


def socket_inodes(pid):
    inodes = set()
    try:
        entries = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return inodes
    for entry in entries:
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, entry))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def bound_ports(protocol="tcp", pids=None, proc_net="/proc/net"):
    """Local ports in LISTEN (tcp) or bound (udp) state, IPv4 and IPv6; with pids,
    only sockets those processes hold."""
    inodes = None
    if pids is not None:
        inodes = set()
        for pid in pids:
            inodes |= socket_inodes(pid)
    ports = set()
    for table in (protocol, protocol + "6"):
        try:
            with open(os.path.join(proc_net, table), encoding="ascii") as stream:
                next(stream, None)
                for line in stream:
                    fields = line.split()
                    if len(fields) < 10 or fields[3] != _LISTEN_STATES[protocol]:
                        continue
                    if inodes is not None and fields[9] not in inodes:
                        continue
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except OSError:
            continue
    return ports
