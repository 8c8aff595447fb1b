"""xcatha: set up the HA pair, fail over by hand, show status, check, configure the cluster.

A thin layer over the library the agents use; every command logs to
/var/log/xcat/xcatha.log as well as the terminal and exits non-zero with a
one-line reason on failure.
"""
import os
import sys
import time

import click

from xcatha import __version__
from xcatha.log import INFO, log

LOG_FILE = "/var/log/xcat/xcatha.log"


class Failure(click.ClickException):
    """A failure the user can act on: one line, exit status 1."""

    def show(self, file=None):
        line = printable(self.message)
        log.error("%s", line)
        click.echo("xcatha: error: %s" % log.redact(line), err=True)


def printable(text):
    """One line for a terminal: what the user gave (a path, a value) may hold control characters,
    line breaks or bytes that are not UTF-8; they are shown escaped."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def _open_log(dry_run=False):
    """Log to LOG_FILE as well; a dry run writes nothing at all, not even its log."""
    log.configure(tag="xcatha", level=INFO, to_stderr=False)
    if dry_run:
        return
    try:
        os.makedirs(os.path.dirname(LOG_FILE), exist_ok=True)
    except OSError:
        return
    log.configure(logfile=LOG_FILE)
    log.info("xcatha %s", " ".join(sys.argv[1:]))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="xcatha")
def main():
    """High availability for the xCAT management node (Pacemaker agents, setup and failover)."""


_last_progress = [0.0]


def _say(text="", progress=False):
    """Tell the admin what happens: lines go to the terminal and the log; progress only to the
    terminal (rewritten in place on a terminal, one line every few seconds into a pipe)."""
    if progress:
        if sys.stdout.isatty():
            sys.stdout.write(text)
        else:
            latest = [part.strip() for part in text.replace("\n", "\r").split("\r") if part.strip()]
            now = time.monotonic()
            if latest and now - _last_progress[0] >= 5:
                _last_progress[0] = now
                sys.stdout.write("    " + latest[-1] + "\n")
        sys.stdout.flush()
        return
    if text:
        log.info("%s", text)
    click.echo(text)


def _load(path, dry_run=False):
    """The pair's config file; every command starts here, so this also opens the log."""
    from xcatha import cluster_config
    _open_log(dry_run)
    try:
        return cluster_config.load(path)
    except cluster_config.ConfigError as error:
        raise Failure(str(error)) from None


def _failures():
    """The exceptions a command turns into one line and exit status 1."""
    from xcatha import activation, arbiter, backup, cluster_config, pair_setup, run
    from xcatha.ocf import OcfError
    return (activation.ActivationError, pair_setup.SetupError, cluster_config.ConfigError, arbiter.ArbiterError,
            OcfError, OSError, run.CommandTimeout, ValueError, backup.BackupError)


def _guarded(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except _failures() as error:
        message = getattr(error, "reason", None) or str(error)
        if isinstance(error, OSError) and error.filename:
            message = "%s: %s" % (error.filename, error.strerror)
        raise Failure(message.splitlines()[0] if message else type(error).__name__) from None


config_option = click.option("-c", "--config", "path", default="/etc/xcatha/cluster.conf", show_default=True,
                             help="The pair's config file (VIP, shared dir, database, console, nodes).")
dry_run_option = click.option("--dry-run", is_flag=True, help="Print the plan; change nothing, write nothing.")
force_option = click.option("--force", is_flag=True, help="Act even though Pacemaker manages the group.")


@main.group("setup")
def setup_group():
    """Set up the HA pair in steps you can run and re-run.

    \b
    Neither host has xCAT yet (host2, the standby, first; then host1):
      xcatha setup begin; install xCAT; xcatha setup finish
    host1 already runs xCAT:
      on host1: xcatha setup convert --new-ip ADDRESS/PREFIX
      on host2: xcatha setup begin; install xCAT; xcatha setup finish
      on host1: xcatha activate
    """


@setup_group.command("begin")
@config_option
@dry_run_option
def setup_begin(path, dry_run):
    """VIP and its hostname up, the shared data seeded, the links made: ready to install xCAT."""
    from xcatha import pair_setup
    _guarded(pair_setup.begin, _load(path, dry_run), _say, dry_run=dry_run)


@setup_group.command("finish")
@config_option
@dry_run_option
def setup_finish(path, dry_run):
    """Check the DB type, disable the services at boot, deactivate this host."""
    from xcatha import pair_setup
    _guarded(pair_setup.finish, _load(path, dry_run), _say, dry_run=dry_run)


@setup_group.command("units")
@config_option
@dry_run_option
def setup_units(path, dry_run):
    """Disable the services at boot, keep systemd from restarting them, enable the boot cleanup.

    Changes no running service: safe on the active MN (finish also deactivates)."""
    from xcatha import pair_setup
    _guarded(pair_setup.units_step, _load(path, dry_run), _say, dry_run=dry_run)


@setup_group.command("convert")
@config_option
@dry_run_option
@click.option("--new-ip", required=True, help="This host's new own address, e.g. 192.0.2.21/24; its "
              "current address becomes the VIP.")
@click.option("--bwlimit", help="Limit the copy's bandwidth (rsync --bwlimit, e.g. 50M).")
def setup_convert(path, dry_run, new_ip, bwlimit):
    """Turn the running MN into host1 of the pair: copy its data into the shared dir and link it."""
    from xcatha import pair_setup
    _guarded(pair_setup.convert, _load(path, dry_run), new_ip, _say, dry_run=dry_run, bwlimit=bwlimit)


@main.command("activate")
@config_option
@dry_run_option
@force_option
@click.option("--fence-peer", is_flag=True, help="Power the other host off through its fence device (from "
              "the config file) before taking over: for an MN that hangs but may still write.")
def activate(path, dry_run, force, fence_peer):
    """Make this host the MN: VIP, hostname, links, database, xcatd, named, DHCP, console.

    Refused unless the other host is proven not to be the MN: it released the shared data
    (xcatha deactivate there) and nobody answers for the VIP, or its fence device reports it
    off (--fence-peer powers it off)."""
    from xcatha import activation
    _guarded(activation.activate, _load(path, dry_run), _say, dry_run=dry_run, force=force, logfile=LOG_FILE,
             fence_peer=fence_peer)
    if not dry_run:
        _say("This host is the active MN.")


@main.command("deactivate")
@config_option
@dry_run_option
@force_option
def deactivate(path, dry_run, force):
    """Stop being the MN: services stopped, links removed, hostname restored, VIP removed; verified."""
    from xcatha import activation
    _guarded(activation.deactivate, _load(path, dry_run), _say, dry_run=dry_run, force=force, logfile=LOG_FILE)
    if not dry_run:
        _say("This host is a clean standby.")


@main.command("status")
@config_option
def status(path):
    """One table of both hosts: VIP, links, services, boot-enabled units, failed actions."""
    from xcatha import status as status_module
    _say(status_module.render(*_guarded(status_module.collect, _load(path))))


@main.command("check")
@config_option
def check(path):
    """Preflight of the pair, with a fix for each finding."""
    from xcatha import preflight
    findings = _guarded(preflight.check, _load(path))
    for finding in findings:
        _say(finding.render())
    failed = [f for f in findings if f.level == preflight.FAIL]
    if failed:
        raise Failure("%d check(s) failed" % len(failed))


def activate_main():
    """activate-xcatmn: the seed's name for `xcatha activate`."""
    sys.argv[0] = "activate-xcatmn"
    main(args=["activate", *sys.argv[1:]], prog_name="activate-xcatmn")


def deactivate_main():
    """deactivate-xcatmn: the seed's name for `xcatha deactivate`."""
    main(args=["deactivate", *sys.argv[1:]], prog_name="deactivate-xcatmn")


@main.group("cluster-config")
def cluster_config_group():
    """The Pacemaker configuration of the pair (group xcatmn, fencing)."""


@cluster_config_group.command("apply")
@config_option
@click.option("--dry-run", is_flag=True, help="Print the CIB difference and change nothing.")
@click.option("--force", is_flag=True, help="Apply even a difference that removes something from the live "
              "configuration (listed without it).")
def cluster_config_apply(path, dry_run, force):
    """Render with pcs -f on a copy of the live CIB, diff with crm_diff, push with cibadmin --patch.

    Keeps what an admin set that the config file does not say: constraints naming the group,
    agent parameters, op timeouts, target-role."""
    from xcatha import cluster_config
    _guarded(cluster_config.apply, _load(path, dry_run), dry_run=dry_run, out=click.echo, force=force)


@cluster_config_group.command("holds-vip")
@config_option
def cluster_config_holds_vip(path):
    """Exit 0 when this host holds the VIP, else 1: the arbiter's heuristic (corosync-qdevice runs
    it at each membership change, so that a split leaves the node that runs the group)."""
    from xcatha import arbiter
    sys.exit(0 if _guarded(arbiter.holds_vip, _load(path)) else 1)


@cluster_config_group.command("export")
@config_option
def cluster_config_export(path):
    """Print the same configuration as a pcs script."""
    from xcatha import cluster_config
    click.echo(_guarded(cluster_config.export_script, _load(path)), nl=False)


@main.command("boot-cleanup")
@config_option
def boot_cleanup(path):
    """Remove links into the shared data that a crash left behind (run at boot, before the cluster).

    Only links that point into the shared directory are removed, and originals that
    were moved aside are put back; nothing else is touched.  Refused on the active MN.
    """
    from xcatha import pair_setup
    _guarded(pair_setup.boot_cleanup, _load(path), _say)


@main.command("backup")
@config_option
def backup_command(path):
    """Dump the xCAT database (dumpxCATdb) into [backup] dir, keeping the [backup] keep newest.

    Does nothing on the host where the group does not run; xcatha-backup.timer runs it nightly
    on both hosts.  Restore with xCAT's own: restorexCATdb -p DIR (each table through tabrestore,
    into the database cfgloc names, or a fresh one named by XCATCFG with XCATBYPASS=1)."""
    from xcatha import activation, backup
    config = _load(path)
    me, _peer = _guarded(activation.whoami, config)
    _guarded(backup.backup, config, me, _say)


@main.group("sync")
def sync_group():
    """The files that follow the active MN, and this host's versions for the peer's check."""


@sync_group.command("push")
@config_option
def sync_push(path):
    """Copy the files of [sync] files into the shared data, on the host holding the group only.

    Run by xcatha-sync.path whenever one of them changes; elsewhere it does nothing."""
    from xcatha import file_sync, pair_setup
    config = _load(path)
    copied = _guarded(pair_setup.sync_push, config)
    if copied is None:
        return
    for name in copied:
        _say("%s copied to %s" % (name, file_sync.store_dir(config.get("shared", "dir"))))


@sync_group.command("facts")
@config_option
def sync_facts(path):
    """Record this host's OS, xCAT and database versions and clock offset in the shared data."""
    from xcatha import pair_setup
    facts = _guarded(pair_setup.record_facts, _load(path))
    _say("recorded: OS %s, xCAT %s, %s %s, clock %+.3f s from the shared storage's" % (
        facts["os"]["name"], facts["xcat"] or "(not installed)", facts["database"]["engine"],
        ", ".join(facts["database"]["majors"]) or "(no server)", facts["clock_offset"]))
