"""Parity of the two MNs: xCAT's HA guide requires the same OS, xCAT and database versions on
both and synchronized clocks.  Each host records what it has in the shared data, which both
can read whether or not the cluster runs: <shared>/.xcatha-hosts/<host>.json, at every boot
(xcatha-boot-cleanup.service), every start of the group there, and `xcatha setup`.
`xcatha check` compares this host, as it is now, with what the other host recorded.

The clock is compared through the shared storage: a file written there gets its time from
the storage's clock (the NFS server's), so each host records how far its own clock is from
that one, and the difference of the two offsets is how far apart the hosts are.
"""
import json
import os
import time

from xcatha import run, units, xcat
from xcatha.log import log

FACTS_DIR = ".xcatha-hosts"
CLOCK_LIMIT = 1.0  # seconds between the hosts' clocks before xCAT's certificates and logs suffer
STALE_AFTER = 7 * 86400


def facts_path(shared_dir, host):
    return os.path.join(shared_dir, FACTS_DIR, host.split(".", 1)[0] + ".json")


def xcat_version(xcatroot=xcat.XCATROOT):
    """What `lsxcatd -v` prints, from xCAT's own xCAT::Version (lsxcatd itself loads every plugin
    and tries the database, seconds on a standby), or None when xCAT is not installed."""
    library = os.path.join(xcatroot, "lib/perl")
    if not os.path.exists(os.path.join(library, "xCAT/Version.pm")):
        return None
    try:
        result = run.run(["perl", "-I", library, "-MxCAT::Version", "-e", "print xCAT::Version->Version()"],
                         timeout=30, quiet=True)
    except (FileNotFoundError, run.CommandTimeout):
        return None
    lines = result.stdout.strip().splitlines() if result.ok else []
    return lines[0] if lines else None


def time_synchronized():
    """systemd's NTPSynchronized (chronyd, ntpd or timesyncd keep the clock): yes, no or None."""
    try:
        result = run.run(["timedatectl", "show", "--property", "NTPSynchronized", "--value"], timeout=10,
                         quiet=True)
    except (FileNotFoundError, run.CommandTimeout):
        return None
    return result.stdout.strip() or None if result.ok else None


def gather(engine):
    """This host as it is now: what both MNs must share."""
    from xcatha import db
    release = units._local_os_release()
    servers = db.server_versions(engine)
    return {"os": {"id": release.get("ID", ""), "version_id": release.get("VERSION_ID", ""),
                   "name": release.get("PRETTY_NAME", "")},
            "xcat": xcat_version(),
            "database": {"engine": engine, "majors": sorted(servers, key=db._version_key),
                         "versions": [servers[major] for major in sorted(servers, key=db._version_key)]},
            "time_synchronized": time_synchronized()}


def clock_offset(directory):
    """Seconds this host's clock is ahead of the shared storage's (a file's mtime is the storage's time)."""
    probe = os.path.join(directory, ".clock-%d" % os.getpid())
    before = time.time()
    with open(probe, "w", encoding="ascii") as stream:
        stream.write("%f\n" % before)
        stream.flush()
        os.fsync(stream.fileno())
    after = time.time()
    try:
        return round((before + after) / 2 - os.stat(probe).st_mtime, 3)
    finally:
        os.unlink(probe)


def record(shared_dir, host, engine):
    """Write this host's facts where the other host reads them; returns them."""
    directory = os.path.join(shared_dir, FACTS_DIR)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    facts = dict(gather(engine), host=host, recorded=time.time(), clock_offset=clock_offset(directory))
    path = facts_path(shared_dir, host)
    with open(path + ".tmp", "w", encoding="utf-8") as stream:
        json.dump(facts, stream, indent=1, sort_keys=True)
        stream.write("\n")
    os.replace(path + ".tmp", path)
    log.info("parity: %s's versions and clock recorded in %s", host, path)
    return facts


def read(shared_dir, host):
    try:
        with open(facts_path(shared_dir, host), encoding="utf-8") as stream:
            return json.load(stream)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        log.warning("cannot read %s: %s", facts_path(shared_dir, host), error)
        return None


def compare(me, mine, peer, theirs, now=None):
    """[(level, what, fix)]: every difference between this host's facts and the peer's record
    ("ok", "warn", "FAIL" as xcatha check prints them)."""
    found = []
    if theirs is None:
        return [("warn", "%s has recorded no versions in the shared data" % peer,
                 "boot %s, or run xcatha sync facts there" % peer)]
    age = (now or time.time()) - theirs.get("recorded", 0)
    if age > STALE_AFTER:
        found.append(("warn", "%s's versions were recorded %d days ago" % (peer, age // 86400),
                      "run xcatha sync facts on %s" % peer))
    os_mine, os_theirs = mine["os"], theirs.get("os", {})
    if (os_mine["id"], os_mine["version_id"]) == (os_theirs.get("id"), os_theirs.get("version_id")):
        found.append(("ok", "OS release is the same on both hosts (%s)" % os_mine["name"], ""))
    else:
        same_major = os_mine["id"] == os_theirs.get("id") and \
            os_mine["version_id"].split(".")[0] == os_theirs.get("version_id", "").split(".")[0]
        found.append(("warn" if same_major else "FAIL", "OS release differs: %s has %s, %s has %s" % (
            me, os_mine["name"] or os_mine["version_id"], peer, os_theirs.get("name") or os_theirs.get("version_id")),
            "update both hosts to the same release (xCAT's HA guide requires identical OS versions)"))
    if mine["xcat"] and theirs.get("xcat") and mine["xcat"] != theirs["xcat"]:
        found.append(("FAIL", "xCAT differs: %s has %s, %s has %s" % (me, mine["xcat"], peer, theirs["xcat"]),
                      "install the same xCAT version on both hosts (the newer one: upgrade the other)"))
    elif mine["xcat"] and theirs.get("xcat"):
        found.append(("ok", "xCAT is the same on both hosts (%s)" % mine["xcat"], ""))
    db_mine, db_theirs = mine["database"], theirs.get("database", {})
    if db_mine["engine"] != db_theirs.get("engine"):
        found.append(("FAIL", "database engine differs: %s records %s, %s %s" % (
            peer, db_theirs.get("engine"), me, db_mine["engine"]), "use the same [database] engine in cluster.conf "
            "on both hosts"))
    elif db_mine["majors"] != db_theirs.get("majors"):
        found.append(("FAIL", "%s differs: %s has %s, %s has %s" % (
            db_mine["engine"], me, ", ".join(db_mine["versions"]) or "none", peer,
            ", ".join(db_theirs.get("versions", [])) or "none"),
            "install the same %s major version on both hosts" % db_mine["engine"]))
    elif db_mine["versions"] != db_theirs.get("versions"):
        found.append(("warn", "%s minor versions differ: %s has %s, %s has %s" % (
            db_mine["engine"], me, ", ".join(db_mine["versions"]), peer, ", ".join(db_theirs.get("versions", []))),
            "update %s on both hosts to the same release" % db_mine["engine"]))
    elif db_mine["majors"]:
        found.append(("ok", "%s is the same on both hosts (%s)" % (db_mine["engine"], ", ".join(db_mine["versions"])),
                      ""))
    found.extend(_clocks(me, mine, peer, theirs))
    return found


def _clocks(me, mine, peer, theirs):
    found = []
    for name, facts in ((me, mine), (peer, theirs)):
        if facts.get("time_synchronized") == "no":
            found.append(("warn", "%s's clock is not synchronized (timedatectl: NTPSynchronized=no)" % name,
                          "enable chronyd (or ntpd) on %s with the same time servers as the other host" % name))
    if mine.get("clock_offset") is None or theirs.get("clock_offset") is None:
        return found
    apart = abs(mine["clock_offset"] - theirs["clock_offset"])
    if apart > CLOCK_LIMIT:
        found.append(("FAIL", "the clocks of %s and %s are %.1f s apart (each against the shared storage's "
                      "clock, when last recorded)" % (me, peer, apart),
                      "synchronize both hosts with the same time servers (chronyd), then run xcatha sync facts "
                      "on both"))
    else:
        found.append(("ok", "the clocks of %s and %s are within %.1f s" % (me, peer, CLOCK_LIMIT), ""))
    return found
