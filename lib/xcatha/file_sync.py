"""The files that follow the active MN: /etc/hosts and root's ssh key pairs by default.

xCAT's HA guide keeps them identical on both MNs with nightly rsync cron jobs; a stale
/etc/hosts on the new MN means wrong DNS for the whole cluster after a failover, since
`makedns -n` rebuilds the zones from it, and a missing key means the new MN cannot reach
the nodes.  Here the host holding the group copies them into <shared>/.xcatha-sync when
they change (xcatha-sync.path runs `xcatha sync push`; the shared-data stop pushes once
more), and the shared-data start installs them on the new MN before any service starts.
A local file that is replaced is kept as <path>.xcatha-prev.

/etc/hosts is merged, not copied.  What stays as each host has it: the lines of special
addresses (loopback, link-local, multicast, reserved: Debian's `127.0.1.1 <own name>`,
EL's `127.0.0.1 localhost ...`, the ip6-* names the OS writes) and the lines that name the
host itself.  Every other line (makehosts' node entries, the VIP's, the peer's) follows
the active MN.  authorized_keys never follows: each host's own decides who may log in.
"""
import fnmatch
import glob
import os
import time

from xcatha import ocf
from xcatha.log import log

DEFAULT_FILES = ("/etc/hosts", "/root/.ssh/id_*")
STORE_NAME = ".xcatha-sync"
PREV_SUFFIX = ".xcatha-prev"
REMOVED_SUFFIX = ".xcatha-removed"
HOSTS = "/etc/hosts"
LOCK = "/run/xcatha-sync.lock"
# Names that never follow, whatever the list says: who may log in stays each host's own.
NEVER = ("authorized_keys", "authorized_keys2")
TEMPORARY_SUFFIX = ".xcatha-new"


class SyncError(Exception):
    """A wrong list of files; the message says which entry and why."""


def parse_files(text):
    """cluster.conf's `[sync] files`: blank-separated absolute paths or globs."""
    files = tuple(text.split()) if text is not None else DEFAULT_FILES
    for entry in files:
        if not os.path.isabs(entry) or ".." in entry.split("/"):
            raise SyncError("[sync] files: %s is not an absolute path" % entry)
        if any(fnmatch.fnmatch(name, os.path.basename(entry)) for name in NEVER):
            raise SyncError("[sync] files: %s would copy authorized_keys, which stays each host's own" % entry)
    return files


class FileList(ocf.ParameterType):
    """The agent's sync_files: parse_files' list, or none (nothing follows the MN)."""

    metavar = "PATHS"

    def convert(self, text):
        if text.strip() in ("", "none"):
            return ()
        try:
            return parse_files(text)
        except SyncError as error:
            raise ValueError(str(error).replace("[sync] files: ", "")) from None


def _ours(path):
    name = os.path.basename(path)
    return name.endswith((PREV_SUFFIX, REMOVED_SUFFIX, TEMPORARY_SUFFIX)) or name in NEVER


def matching(patterns, root=""):
    """The regular files the patterns name on this host (root: a prefix for tests)."""
    found = set()
    for pattern in patterns:
        for path in glob.glob(root + pattern):
            if os.path.isfile(path) and not os.path.islink(path) and not _ours(path):
                found.add(path[len(root):])
    return sorted(found)


def covered(path, patterns):
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns) and not _ours(path)


def store_dir(shared_dir):
    return os.path.join(shared_dir, STORE_NAME)


def stored(shared_dir, path):
    return store_dir(shared_dir) + "/files" + path


def read_manifest(shared_dir):
    """What the last push copied ({"host", "time", "files": {path: entry}}), or None."""
    import json  # not on the monitors' path: the agent imports this module for its parameter type
    try:
        with open(os.path.join(store_dir(shared_dir), "manifest.json"), encoding="utf-8") as stream:
            return json.load(stream)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        log.warning("cannot read the sync manifest in %s: %s", store_dir(shared_dir), error)
        return None


def _entry(data, info):
    import hashlib
    return {"sha256": hashlib.sha256(data).hexdigest(), "mode": info.st_mode & 0o7777,
            "uid": info.st_uid, "gid": info.st_gid}


def _read(path):
    with open(path, "rb") as stream:
        return stream.read(), os.fstat(stream.fileno())


def _write(path, data, mode, uid=None, gid=None):
    """Write-then-rename: a reader sees the old file or the new one, never half of one."""
    temporary = path + TEMPORARY_SUFFIX
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    if uid is not None:
        os.chown(temporary, uid, gid)
    os.chmod(temporary, mode)
    os.replace(temporary, path)


class _Locked:
    """Push and pull on one host never interleave (the path unit fires while start installs)."""

    def __init__(self, path=LOCK):
        self.path = path

    def __enter__(self):
        import fcntl
        self.stream = open(self.path, "a")  # noqa: SIM115 - held for the block
        fcntl.flock(self.stream, fcntl.LOCK_EX)
        return self

    def __exit__(self, *_exc):
        self.stream.close()


# ---------------------------------------------------------------- push: the active MN's files in
PUSH_ROUNDS = 3
QUIET_ROUNDS = 20


def push(shared_dir, patterns, host, root="", lock=LOCK, quiet=0.0):
    """Copy the files the patterns name into the store; returns (copied, no longer present).
    A file no longer present here is kept in the store as <path>.xcatha-removed.

    A file rewritten while it was copied is copied again.  quiet (seconds): the files must
    also stay unchanged that long after a copy, else it copies again -- the path unit's run:
    systemd drops a change made while the service it started still runs (PathChanged re-arms
    only once that has exited), so the run waits out a burst (makehosts, then ssh-keygen's
    two files) instead of leaving its tail behind until the next change."""
    copied, gone = [], []
    with _Locked(lock):
        for _round in range(QUIET_ROUNDS if quiet else PUSH_ROUNDS):
            round_copied, round_gone, current = _push_once(shared_dir, patterns, host, root)
            copied += [path for path in round_copied if path not in copied]
            gone += [path for path in round_gone if path not in gone]
            if quiet:
                time.sleep(quiet)
            if _state(patterns, root) == current:
                break
    for path in copied:
        log.info("sync: %s copied to %s", path, store_dir(shared_dir))
    return copied, gone


def _state(patterns, root):
    state = {}
    for path in matching(patterns, root):
        try:
            state[path] = _entry(*_read(root + path))
        except FileNotFoundError:  # removed since it was listed: the next round says so
            continue
    return state


def _push_once(shared_dir, patterns, host, root):
    import json
    store = store_dir(shared_dir)
    os.makedirs(store + "/files", mode=0o700, exist_ok=True)
    os.chmod(store, 0o700)
    manifest = read_manifest(shared_dir) or {"files": {}}
    current, copied = {}, []
    for path in matching(patterns, root):
        try:
            data, info = _read(root + path)
        except FileNotFoundError:  # removed since it was listed: gone, as if it had been before
            continue
        entry = _entry(data, info)
        current[path] = entry
        target = stored(shared_dir, path)
        if manifest["files"].get(path) != entry or not os.path.exists(target):
            os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
            _write(target, data, 0o600)
            copied.append(path)
    gone = [path for path in manifest["files"] if path not in current]
    for path in gone:
        if os.path.exists(stored(shared_dir, path)):
            os.replace(stored(shared_dir, path), stored(shared_dir, path) + REMOVED_SUFFIX)
    if copied or gone:
        text = json.dumps({"host": host, "time": time.time(), "files": current}, indent=1, sort_keys=True)
        _write(os.path.join(store, "manifest.json"), text.encode() + b"\n", 0o600)
    return copied, gone, current


# ---------------------------------------------------------------- pull: installed on the new MN
def pull(shared_dir, patterns, own_names, root="", lock=LOCK):
    """Install what the store holds (and the patterns cover) here; returns the paths changed.
    Each replaced local file is kept as <path>.xcatha-prev.  No store yet: nothing changes."""
    manifest = read_manifest(shared_dir)
    if manifest is None:
        log.info("sync: nothing in %s yet; the local files stay", store_dir(shared_dir))
        return []
    changed = []
    with _Locked(lock):
        for path, entry in sorted(manifest["files"].items()):
            if not covered(path, patterns):
                continue
            wanted = wanted_content(shared_dir, path, entry, own_names, root)
            if wanted is None:
                continue
            local = root + path
            try:
                current, info = _read(local)
            except FileNotFoundError:
                current, info = None, None
            if current == wanted:
                continue
            os.makedirs(os.path.dirname(local), mode=0o700, exist_ok=True)
            if current is not None:
                _write(local + PREV_SUFFIX, current, info.st_mode & 0o7777, info.st_uid, info.st_gid)
            _write(local, wanted, entry["mode"], entry["uid"], entry["gid"])
            changed.append(path)
            log.info("sync: %s installed from %s (written by %s)%s", path, store_dir(shared_dir),
                     manifest.get("host", "?"), "; the local one kept as %s%s" % (path, PREV_SUFFIX)
                     if current is not None else "")
    return changed


def wanted_content(shared_dir, path, entry, own_names, root=""):
    """What the local file should hold: the stored copy, /etc/hosts merged with this host's
    own lines.  None when the stored copy is missing or torn (logged; the local one stays)."""
    import hashlib
    try:
        data, _info = _read(stored(shared_dir, path))
    except OSError as error:
        log.warning("sync: %s is in the manifest but cannot be read from the store: %s", path, error)
        return None
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        log.warning("sync: the stored copy of %s does not match its manifest (a push was cut short?); the "
                    "local file stays", path)
        return None
    if path == HOSTS:
        try:
            local = _read(root + path)[0].decode("utf-8", "replace")
        except FileNotFoundError:
            local = ""
        return merge_hosts(data.decode("utf-8", "replace"), local, own_names).encode()
    return data


def _special(address):
    import ipaddress
    try:
        value = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return value.is_loopback or value.is_link_local or value.is_multicast or value.is_reserved or \
        value.is_unspecified


def _names(line):
    return line.split("#", 1)[0].split()[1:]


def _is_own(line, own_names):
    own = {name.lower() for name in own_names if name}
    shorts = {name.split(".", 1)[0] for name in own}
    return any(name.lower() in own or name.lower().split(".", 1)[0] in shorts for name in _names(line))


def _split(text, own_names):
    """(special-address lines, lines naming the host itself) of an /etc/hosts."""
    special, own = [], []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if fields and _special(fields[0]):
            special.append(line)
        elif fields and _is_own(line, own_names):
            own.append(line)
    return special, own


def merge_hosts(synced, local, own_names):
    """The active MN's /etc/hosts with this host's own lines, in the synced file's layout: its
    special-address lines where the synced file has the MN's (identical ones stay), its lines
    naming itself where the synced file names it (else after the special lines)."""
    special, own = _split(local, own_names)
    normal = {" ".join(line.split()) for line in special}
    missing = [line for line in special if " ".join(line.split()) not in
               {" ".join(other.split()) for other in _split(synced, ())[0]}]
    merged, placed_special, placed_own = [], False, False
    for line in synced.splitlines():
        fields = line.split("#", 1)[0].split()
        if fields and _special(fields[0]):
            if " ".join(line.split()) in normal:
                merged.append(line)
            elif not placed_special:
                merged.extend(missing)
                placed_special = True
            continue
        if fields and _is_own(line, own_names):
            if not placed_own:
                merged.extend(own)
                placed_own = True
            continue
        merged.append(line)
    if not placed_special:
        merged[0:0] = missing
    if not placed_own:
        last = max([index for index, line in enumerate(merged) if line in special] or [-1])
        merged[last + 1:last + 1] = own
    return "\n".join(merged) + "\n"


def differences(shared_dir, patterns, own_names, root=""):
    """What a pull would change here: [(path, why)] (empty: this host has what the store has,
    its own /etc/hosts lines aside).  On the MN: what it changed and did not push."""
    manifest = read_manifest(shared_dir)
    if manifest is None:
        return []
    found = []
    for path, entry in sorted(manifest["files"].items()):
        if not covered(path, patterns):
            continue
        wanted = wanted_content(shared_dir, path, entry, own_names, root)
        try:
            current = _read(root + path)[0]
        except FileNotFoundError:
            current = None
        if wanted is not None and current != wanted:
            found.append((path, "missing here" if current is None else "differs from the copy %s pushed"
                          % manifest.get("host", "the MN")))
    return found


def main(argv):
    """`python3 -I -m xcatha.file_sync push SHARED_DIR HOST PATTERN...`: the shared-data stop's
    last push, in a child so that storage that does not answer hangs the child, not the stop."""
    if len(argv) < 3 or argv[0] != "push":
        raise SystemExit("usage: python3 -m xcatha.file_sync push SHARED_DIR HOST PATTERN...")
    push(argv[1], tuple(argv[3:]), argv[2])


if __name__ == "__main__":
    import sys
    main(sys.argv[1:])
