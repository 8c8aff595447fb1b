"""xCAT's own commands, as the agents call them: makedns, makedhcp, makeconservercf, makegocons, lsxcatd.

They live under $XCATROOT (default /opt/xcat), which is not on Pacemaker's
PATH; they reach xcatd over SSL with root's ~/.xcat credentials, so HOME is
set.  A failing command fails the action with the last line it printed to
stderr — xCAT's own "Error: ..." — as the exit reason.
"""
import os

from xcatha import run
from xcatha.ocf import ExitCode, OcfError

XCATROOT = os.environ.get("XCATROOT") or "/opt/xcat"


def path_of(command, xcatroot=XCATROOT):
    for directory in ("sbin", "bin"):
        candidate = os.path.join(xcatroot, directory, command)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def environment(xcatroot=XCATROOT):
    return {"XCATROOT": xcatroot, "HOME": "/root",
            "PATH": "%s/bin:%s/sbin:%s" % (xcatroot, xcatroot, run.SAFE_PATH)}


def run_command(command, args, deadline, timeout=None):
    """Run an xCAT command; raise OcfError with its own last error line when it fails."""
    path = path_of(command)
    if path is None:
        raise OcfError(ExitCode.ERR_INSTALLED, "%s not found under %s: is xCAT installed on this node?"
                       % (command, XCATROOT))
    shown = " ".join([command, *args])
    try:
        result = run.run([path, *args], env=environment(), deadline=deadline,
                         timeout=timeout if timeout is not None else deadline.remaining())
    except run.CommandTimeout:
        raise OcfError(ExitCode.ERR_GENERIC, "%s did not finish in time" % shown) from None
    if not result.ok:
        raise OcfError(ExitCode.ERR_GENERIC, "%s failed: %s" % (shown, result.last_error_line()))
    return result


def parse_lsxcatd(text):
    """`lsxcatd -a` lines: 'Version ...', 'This is a Management Node', key=value pairs."""
    facts = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("Version "):
            facts["version"] = line[len("Version "):]
        elif line == "This is a Management Node":
            facts["role"] = "mn"
        elif line == "This is a Service Node":
            facts["role"] = "sn"
        elif "=" in line:
            key, _, value = line.partition("=")
            facts[key.strip()] = value.strip()
    return facts


def lsxcatd(deadline, timeout):
    return parse_lsxcatd(run_command("lsxcatd", ["-a"], deadline, timeout=timeout).stdout)
