"""Small helpers: logging, running commands, looking at processes and mounts."""

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Optional

log = logging.getLogger("lab")

# Environment for commands run inside nodes: never the caller's (pyenv, venv,
# PYTHONPATH of the test process would leak into the node otherwise).
NODE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/root",
    "USER": "root",
    "LOGNAME": "root",
    "TERM": "xterm",
}


class LabError(RuntimeError):
    pass


def setup_logging(log_path: Path, name: str = "lab") -> None:
    """Log to stderr and append to log_path, with timestamps and the pid."""
    if getattr(log, "_lab_configured", None) == str(log_path):
        return
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    fmt = logging.Formatter("%(asctime)s.%(msecs)03d " + name + "[%(process)d] %(message)s",
                            datefmt="%H:%M:%S")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(str(log_path))
    to_file.setFormatter(fmt)
    to_file.setLevel(logging.DEBUG)
    to_stderr = logging.StreamHandler(sys.stderr)
    to_stderr.setFormatter(fmt)
    to_stderr.setLevel(logging.DEBUG if os.environ.get("LAB_DEBUG") else logging.INFO)
    log.addHandler(to_file)
    log.addHandler(to_stderr)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log._lab_configured = str(log_path)


def run(argv: Sequence[str], check: bool = True, input: Optional[str] = None,
        timeout: Optional[float] = 60, env: Optional[dict[str, str]] = None,
        quiet: bool = False) -> subprocess.CompletedProcess:
    """Run argv, capture text output.  On timeout the whole process group is
    killed (nsenter forks: killing only nsenter would leave its child running)."""
    argv = [str(a) for a in argv]
    if not quiet:
        log.debug("run: %s", " ".join(argv))
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        out, err = proc.communicate()
        raise LabError("timed out after %ss: %s\n%s%s" % (timeout, " ".join(argv), out, err)) from None
    result = subprocess.CompletedProcess(argv, proc.returncode, out, err)
    if check and result.returncode != 0:
        raise LabError("rc=%d: %s\n%s%s" % (result.returncode, " ".join(argv), out, err))
    return result


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_for(predicate, timeout: float, interval: float = 0.1):
    """Poll predicate until it returns something true; return it or None."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# --- processes ------------------------------------------------------------

def _stat_fields(pid: int) -> Optional[list[str]]:
    """Fields of /proc/PID/stat after the command name (state is [0], ppid [1])."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def pid_alive(pid: Optional[int]) -> bool:
    """True if pid exists and is not a zombie."""
    if not pid:
        return False
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def all_pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def children_of(pid: int) -> list[int]:
    kids = []
    for p in all_pids():
        fields = _stat_fields(p)
        if fields and int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            kids.append(p)
    return kids


def read_comm(pid: int) -> str:
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def read_cmdline(pid: int) -> list[str]:
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def ns_pid_chain(pid: int) -> list[int]:
    """NSpid line: the pid as seen from each nested PID namespace."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return [int(x) for x in line.split()[1:]]
    except OSError:
        pass
    return []


def _ns_id(path: str):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def pids_in_netns(netns_paths: Iterable[str]) -> list[int]:
    """Live processes whose network namespace is one of netns_paths."""
    wanted = {i for i in (_ns_id(p) for p in netns_paths) if i}
    if not wanted:
        return []
    return [p for p in all_pids()
            if _ns_id("/proc/%d/ns/net" % p) in wanted and pid_alive(p) and p != os.getpid()]


def kill_and_wait(pids: Iterable[int], sig: int = signal.SIGKILL, timeout: float = 5.0) -> list[int]:
    """Signal pids and wait until they are gone; return those still alive."""
    pids = [p for p in pids if pid_alive(p)]
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass
    wait_for(lambda: not any(pid_alive(p) for p in pids), timeout, 0.05)
    return [p for p in pids if pid_alive(p)]


def read_pidfile(path: Path) -> Optional[int]:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


# --- mounts ---------------------------------------------------------------

def _unescape_mount_path(field: str) -> str:
    # /proc/self/mountinfo encodes space, tab, newline and backslash as \ooo
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_points() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [_unescape_mount_path(line.split()[4]) for line in f]


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below path, deepest first (the order to unmount them)."""
    prefix = str(path).rstrip("/")
    found = [m for m in mount_points() if m == prefix or m.startswith(prefix + "/")]
    return sorted(found, key=lambda m: m.count("/"), reverse=True)


def is_mounted(path: Path) -> bool:
    return str(path).rstrip("/") in mount_points()
