"""The nightly backup xCAT's HA guide asks for: `dumpxCATdb -p DIR` on the active MN only.

Why xCAT's dump and not the engine's (pg_dump, mysqldump): it writes one CSV per table
through xcatd, the same for SQLite, PostgreSQL and MariaDB, and `restorexCATdb -p DIR`
reads it back into whatever database cfgloc names, a fresh one included; xCAT's own
migration between engines goes that way.  It needs no database credentials, and a
table an xCAT upgrade added or changed is dumped the way xCAT reads it.

Each run writes DIR/xcatdb-YYYYmmdd-HHMMSS (first as .partial: a dump that did not
finish never counts as the newest), keeps the `keep` newest and removes older ones
(only directories of that name).  `xcatha-backup.timer` runs it on both hosts; on the
host where the group does not run it does nothing.
"""
import fcntl
import os
import re
import shutil
import time

from xcatha import cluster_config, run, shared_data, xcat

DEFAULT_DIR = "/var/lib/xcatha/backup"
DEFAULT_KEEP = 14
DEFAULT_TIME = "02:30"
NAME = re.compile(r"^xcatdb-(\d{8}-\d{6})$")
STAMP = "%Y%m%d-%H%M%S"
PARTIAL = ".partial"
STALE_AFTER = 2 * 86400  # xcatha check warns when the newest backup is older
ATTRIBUTE = "xcatha-backup-last"  # a permanent node attribute: the peer's check sees it
TIMER = "xcatha-backup.timer"
DUMP_TIMEOUT = 3600


class BackupError(Exception):
    """The backup could not be made; the message says why."""


def settings(config):
    """(dir, keep, time) from [backup], checked."""
    directory = config.get("backup", "dir", DEFAULT_DIR)
    keep = config.get("backup", "keep", str(DEFAULT_KEEP))
    when = config.get("backup", "time", DEFAULT_TIME)
    if not os.path.isabs(directory):
        raise cluster_config.ConfigError("%s: [backup] dir=%s must be an absolute path" % (config.path, directory))
    shared = config.get("shared", "dir")
    if shared_data._within(os.path.normpath(directory), os.path.normpath(shared)):
        raise cluster_config.ConfigError("%s: [backup] dir=%s is inside the shared data %s: a backup must "
                                         "survive the loss of the shared data" % (config.path, directory, shared))
    if not keep.isdigit() or int(keep) < 1:
        raise cluster_config.ConfigError("%s: [backup] keep=%s must be a whole number of at least 1"
                                         % (config.path, keep))
    return directory, int(keep), when


def backups(directory):
    """[(epoch, path)] of the finished backups in directory, oldest first."""
    found = []
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return found
    for name in names:
        match = NAME.match(name)
        if match and os.path.isdir(os.path.join(directory, name)):
            found.append((time.mktime(time.strptime(match.group(1), STAMP)), os.path.join(directory, name)))
    return sorted(found)


def where_group_runs():
    """The node Pacemaker runs the group on, '' when it runs nowhere; None without a cluster."""
    try:
        result = run.run(["crm_resource", "--locate", "--resource", cluster_config.GROUP], timeout=30, quiet=True)
    except (FileNotFoundError, run.CommandTimeout):
        return None
    if "is running on:" in result.stdout:
        return result.stdout.split("is running on:", 1)[1].split()[0]
    if result.ok or "NOT running" in result.stdout + result.stderr:
        return ""
    return None


def backup(config, me, out, now=None):
    """Dump the database here if this host is the MN; returns the new backup's path or None."""
    directory, keep, _when = settings(config)
    now = now or time.time()
    runs_on = where_group_runs()
    if runs_on is None:  # no cluster: the MN is the host whose shared data is linked (xcatha activate)
        if not os.path.exists(shared_data.marker_path("shared-data")):
            out("%s is not the active MN (no cluster, shared data not linked here): no backup here" % me.name)
            return None
    elif runs_on != me.name:
        out("the group %s runs %s: no backup here" % (cluster_config.GROUP,
                                                      "on " + runs_on if runs_on else "nowhere"))
        return None
    dump = xcat.path_of("dumpxCATdb")
    if dump is None:
        raise BackupError("dumpxCATdb not found under %s: is xCAT installed here?" % xcat.XCATROOT)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    with open(os.path.join(directory, ".lock"), "w", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError("another xcatha backup is writing into %s" % directory) from None
        for name in os.listdir(directory):  # an interrupted run's output, never a backup
            if name.endswith(PARTIAL) and NAME.match(name[:-len(PARTIAL)]):
                shutil.rmtree(os.path.join(directory, name))
        stamp = time.strftime(STAMP, time.localtime(now))
        final = os.path.join(directory, "xcatdb-" + stamp)
        partial = final + PARTIAL
        try:
            result = run.run([dump, "-p", partial], env=xcat.environment(), timeout=DUMP_TIMEOUT)
        except run.CommandTimeout:
            shutil.rmtree(partial, ignore_errors=True)
            raise BackupError("dumpxCATdb did not finish within %ds" % DUMP_TIMEOUT) from None
        # dumpxCATdb reports a table it could not dump ("Error running tabdump ...") and still exits 0
        errors = [line for line in (result.stdout + result.stderr).splitlines() if "Error" in line]
        tables = [name for name in os.listdir(partial) if name.endswith(".csv")] if os.path.isdir(partial) else []
        if not result.ok or errors or "site.csv" not in tables:
            shutil.rmtree(partial, ignore_errors=True)
            why = errors[0].strip() if errors else result.last_error_line() if not result.ok else "no site.csv"
            raise BackupError("dumpxCATdb -p %s failed: %s" % (partial, why))
        os.rename(partial, final)
        out("backup: %s (%d tables, dumpxCATdb)" % (final, len(tables)))
        removed = prune(directory, keep)
        if removed:
            out("removed %d older backup(s), keeping the %d newest: %s" % (len(removed), keep, " ".join(removed)))
    if runs_on:
        run.run(["crm_attribute", "--node", me.name, "--name", ATTRIBUTE, "--update", str(int(now)),
                 "--lifetime", "forever"], timeout=30, quiet=True)
    return final


def prune(directory, keep):
    """Remove all but the keep newest backups; returns the removed paths."""
    removed = [path for _epoch, path in backups(directory)[:-keep]]
    for path in removed:
        shutil.rmtree(path)
    return removed


def calendar(when):
    """[backup] time as systemd's OnCalendar: HH:MM daily, or a calendar expression as it is."""
    if re.match(r"^\d{1,2}:\d{2}$", when):
        return "*-*-* %s:00" % when
    return when


def timer_drop_in(config):
    """The timer's drop-in that sets [backup] time."""
    _directory, _keep, when = settings(config)
    return ("# Written by xcatha setup from [backup] time in %s.\n[Timer]\nOnCalendar=\nOnCalendar=%s\n"
            % (config.path, calendar(when)))


def newest(config, cib_nodes_xml=None):
    """The epoch of the newest backup: this host's directory, or any node's attribute in the CIB."""
    directory = config.get("backup", "dir", DEFAULT_DIR)
    epochs = [epoch for epoch, _path in backups(directory)]
    if cib_nodes_xml:
        import xml.etree.ElementTree as ET
        for nvpair in ET.fromstring(cib_nodes_xml).iter("nvpair"):  # noqa: S314 - our own cluster's CIB
            if nvpair.get("name") == ATTRIBUTE and (nvpair.get("value") or "").isdigit():
                epochs.append(float(nvpair.get("value")))
    return max(epochs) if epochs else None
