"""xcatha: set up the HA pair, fail over by hand, show status, check, configure the cluster.

A thin layer over the library the agents use; every command logs to
/var/log/xcat/xcatha.log as well as the terminal and exits non-zero with a
one-line reason on failure.
"""
import os
import sys

import click

from xcatha import __version__
from xcatha.log import INFO, log

LOG_FILE = "/var/log/xcat/xcatha.log"


class Failure(click.ClickException):
    """A failure the user can act on: one line, exit status 1."""

    def show(self, file=None):
        log.error("%s", self.message)
        click.echo("xcatha: error: %s" % log.redact(self.message), err=True)


def _setup_logging():
    logfile = LOG_FILE
    try:
        os.makedirs(os.path.dirname(logfile), exist_ok=True)
    except OSError:
        logfile = None
    log.configure(tag="xcatha", level=INFO, logfile=logfile, to_stderr=False)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="xcatha")
def main():
    """High availability for the xCAT management node (Pacemaker agents, setup and failover)."""
    _setup_logging()
    log.info("xcatha %s", " ".join(sys.argv[1:]))


@main.group("cluster-config")
def cluster_config_group():
    """The Pacemaker configuration of the pair (group xcatmn, fencing)."""


@cluster_config_group.command("apply")
@click.option("-c", "--config", "path", default="/etc/xcatha/cluster.conf", show_default=True,
              help="The pair's config file.")
@click.option("--dry-run", is_flag=True, help="Print the CIB difference and change nothing.")
def cluster_config_apply(path, dry_run):
    """Render with pcs -f on a copy of the live CIB, diff with crm_diff, push with cibadmin --patch."""
    from xcatha import cluster_config
    try:
        cluster_config.apply(cluster_config.load(path), dry_run=dry_run, out=click.echo)
    except cluster_config.ConfigError as error:
        raise Failure(str(error)) from None


@cluster_config_group.command("export")
@click.option("-c", "--config", "path", default="/etc/xcatha/cluster.conf", show_default=True,
              help="The pair's config file.")
def cluster_config_export(path):
    """Print the same configuration as a pcs script."""
    from xcatha import cluster_config
    try:
        click.echo(cluster_config.export_script(cluster_config.load(path)), nl=False)
    except cluster_config.ConfigError as error:
        raise Failure(str(error)) from None


@main.command("boot-cleanup")
@click.option("-c", "--config", "path", default="/etc/xcatha/cluster.conf", show_default=True,
              help="The pair's config file (for the shared directory and the database engine).")
def boot_cleanup(path):
    """Remove links into the shared data that a crash left behind (run at boot, before the cluster).

    Only links that point into the shared directory are removed, and originals that
    were moved aside are put back; nothing else is touched.
    """
    from xcatha import cluster_config, shared_data
    try:
        config = cluster_config.load(path)
    except cluster_config.ConfigError as error:
        raise Failure(str(error)) from None
    shared_dir = config.get("shared", "dir")
    dirs = shared_data.default_dirs(config.get("database", "engine"))
    stale = [d for d in dirs if shared_data.link_points_into(d, shared_dir)]
    shared_data.stop(shared_dir, dirs, shared_data.DEFAULT_SUFFIX, "shared-data")
    message = ("removed %d stale link(s) into %s: %s" % (len(stale), shared_dir, " ".join(stale)) if stale
               else "no stale links into %s" % shared_dir)
    log.info("%s", message)
    click.echo(message)
