"""A service Pacemaker runs has stopped: when nobody asked, tell Pacemaker at once.

Every unit an xcatha agent runs gets, in its drop-in (units.drop_in_text),
``ExecStopPost=-python3 -I -m xcatha.exited RESOURCE %n``.  systemd runs it each time the
service stops: when someone asked (the agent's stop, xCAT's own restarts in makedns -n,
makedhcp -n and makeconservercf, a shutdown) and when the service died on its own.  Only
a stop someone asked for is a job of the unit (stop or restart) while it runs; with the
drop-in's Restart=no a death leaves the unit without one.  So a unit without a job that
Pacemaker runs here is reported with ``crm_resource --fail``: Pacemaker recovers it
within a second instead of at the next monitor, which stays the safety net.

Imports only the process door: it runs on the path of a failure.
"""
import os
import sys

from xcatha import run
from xcatha.log import log

SYSTEMCTL = "systemctl"


def unit_job(unit):
    """The unit's pending job id ("" when none), or None when systemd cannot be asked."""
    result = run.run([SYSTEMCTL, "show", unit, "--property=Job", "--value"], timeout=10, quiet=True)
    return result.stdout.strip() if result.ok else None


def local_node():
    result = run.run(["crm_node", "--name"], timeout=10, quiet=True)
    return result.stdout.strip() if result.ok else None


def runs_here(resource, node):
    """True when Pacemaker has the resource active on node (crm_resource --locate)."""
    result = run.run(["crm_resource", "--locate", "--resource", resource, "--quiet"], timeout=10, quiet=True)
    return result.ok and node in result.stdout.split()


def how(environ):
    """What systemd says of the stop ($SERVICE_RESULT, $EXIT_CODE, $EXIT_STATUS)."""
    return ", ".join("%s=%s" % (key, environ[key]) for key in ("SERVICE_RESULT", "EXIT_CODE", "EXIT_STATUS")
                     if environ.get(key))


def report(resource, unit, environ):
    """Returns what was done, one line (also logged)."""
    job = unit_job(unit)
    if job is None:
        return "%s stopped; systemd cannot say whether on request: not reported" % unit
    if job:
        if environ.get("SERVICE_RESULT", "success") != "success":
            # a start that failed (its job is the start) or a stop that did not end cleanly:
            # the job's own result, which its caller (the agent) reports
            return "%s ended (%s) while job %s ran: that job's failure, not reported here" % (unit, how(environ), job)
        return "%s stopped on request (job %s)" % (unit, job)
    node = local_node()
    if not node or not runs_here(resource, node):
        return "%s stopped unrequested (%s), but Pacemaker does not run %s here: not reported" % (
            unit, how(environ) or "no result", resource)
    result = run.run(["crm_resource", "--fail", "--resource", resource, "--node", node], timeout=20)
    if not result.ok:
        return "%s stopped unrequested (%s); crm_resource --fail failed: %s" % (
            unit, how(environ) or "no result", result.last_error_line())
    return "%s stopped unrequested (%s): reported to Pacemaker as a failure of %s on %s" % (
        unit, how(environ) or "no result", resource, node)


def main(argv=None, environ=None):
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    log.configure(tag="xcatha-exited")
    if len(argv) != 2:
        log.error("usage: python3 -m xcatha.exited RESOURCE UNIT")
        return 2
    try:
        said = report(argv[0], argv[1], environ)
    except (OSError, run.CommandTimeout) as error:
        said = "%s stopped; reporting it failed: %s" % (argv[1], error)
    log.warning("%s", said) if "reported to Pacemaker" in said else log.info("%s", said)
    return 0


if __name__ == "__main__":
    sys.exit(main())
