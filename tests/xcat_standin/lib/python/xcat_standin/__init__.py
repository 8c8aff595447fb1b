"""Shared code of the xCAT stand-in (TEST ONLY, not xCAT).

The commands under bin/ and sbin/ import this package; it holds the pieces they
share: cfgloc parsing, database access through the engines' own CLI clients,
the table schema, distro/unit detection and the xcatd wire protocol.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

# <root>/lib/python/xcat_standin -> <root>, i.e. /opt/xcat once installed.
ROOT = Path(__file__).resolve().parents[3]
VERSION = "2.17.0"


class XcatError(Exception):
    """A failure reported to the user as xCAT does: 'Error: <message>'."""


def write_file(path, text, mode=0o644, group=None):
    """Atomically replace PATH with TEXT; return True if the content changed.

    Written through a temporary file in the same directory so a daemon never
    reads a half-written configuration.
    """
    path = Path(path)
    try:
        if path.read_text() == text:
            os.chmod(path, mode)
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix="." + path.name + ".")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, mode)
        if group is not None:
            _chgrp(tmp, group)
        os.replace(tmp, str(path))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


def _chgrp(path, group):
    import grp

    try:
        os.chown(path, 0, grp.getgrnam(group).gr_gid)
    except KeyError:
        pass  # the group only exists where the daemon's package is installed


def run(argv, check=True, env=None, input_text=None, timeout=120):
    """Run ARGV (a list, never a shell string); raise XcatError on failure.

    cwd is / so that commands run as another user (runuser) never trip over
    an unreadable current directory.
    """
    try:
        proc = subprocess.run(
            argv,
            cwd="/",
            input=input_text,
            stdin=None if input_text is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
    except FileNotFoundError:
        raise XcatError("command not found: %s" % argv[0]) from None
    except subprocess.TimeoutExpired:
        raise XcatError("timed out after %ss: %s" % (timeout, " ".join(argv))) from None
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise XcatError("'%s' failed (rc=%d)%s" % (
            " ".join(argv), proc.returncode, ": " + detail if detail else ""))
    return proc


def fail(message, code=1):
    """Print an xCAT-style error line and exit."""
    print("Error: %s" % message, file=sys.stderr)
    sys.exit(code)


def main_wrapper(func):
    """Run a command's main(), turning expected failures into 'Error: ...' + rc 1."""
    try:
        sys.exit(func(sys.argv[1:]) or 0)
    except XcatError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        sys.exit(130)
