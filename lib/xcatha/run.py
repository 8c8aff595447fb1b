"""The only door to other processes.

Every external command goes through :func:`run` (or :func:`spawn` for the rare
fire-and-forget helper): an argv list, never a shell; an explicit environment
with ``LC_ALL=C`` and a fixed PATH, so an agent behaves the same under
Pacemaker's minimal environment and in an admin's shell; a timeout bounded by
the action's deadline; one log line per command, with secrets redacted.
A registered secret found in an argv is refused: ``ps`` shows every argv.

The processes themselves are started by :data:`runner`, one object that the
fast tests replace with one expecting an exact sequence of commands (pcs's
CommandRunner model); the module functions stay the call sites.
"""
import os
import time

from xcatha.log import log

# subprocess is imported where a command runs: its import costs a monitor that
# starts no process as much CPU as the rest of its work.

SAFE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def python():
    """The interpreter this package runs under (the agents' #! line: /usr/bin/python3, or e.g.
    python3.11 where the packages were built for it): for children that import xcatha."""
    import sys
    return sys.executable or "/usr/bin/python3"
DEFAULT_TIMEOUT = 30.0
KILL_GRACE = 1.0  # how long a killed command may take to go before it is abandoned


class CommandTimeout(Exception):
    """The command outlived its time budget; it has been killed."""


class Result:
    __slots__ = ("argv", "rc", "stdout", "stderr", "seconds")

    def __init__(self, argv, rc, stdout, stderr, seconds):
        self.argv, self.rc, self.stdout, self.stderr, self.seconds = argv, rc, stdout, stderr, seconds

    @property
    def ok(self):
        return self.rc == 0

    def last_error_line(self):
        """The line an admin needs: the last non-empty line of stderr, else of stdout, passing
        over indented hints below it (psql: "...failed: Connection refused", then "\tIs the
        server running on that host...")."""
        for text in (self.stderr, self.stdout):
            lines = [line for line in (text or "").splitlines() if line.strip()]
            if lines:
                said = [line for line in lines if not line[0].isspace()] or lines
                return log.redact(said[-1].strip())
        return "exit status %d" % self.rc

    def __repr__(self):
        return "Result(%r, rc=%r)" % (self.argv[0], self.rc)


def _environment(env):
    base = {"LC_ALL": "C", "LANG": "C", "PATH": SAFE_PATH}
    if env:
        base.update({key: value for key, value in env.items() if value is not None})
    return base


def _checked_argv(argv):
    if isinstance(argv, (str, bytes)) or not argv:
        raise TypeError("run() takes a non-empty argv list, never a command string")
    argv = [os.fspath(arg) for arg in argv]
    for arg in argv:
        if log.contains_secret(arg):
            raise ValueError("refusing to put a secret in the argv of %s" % argv[0])
    return argv


def _budget(timeout, deadline):
    budget = DEFAULT_TIMEOUT if timeout is None else timeout
    if deadline is not None:
        budget = min(budget, deadline.remaining())
    return max(budget, 0.05)


class Runner:
    """Starts the processes; tests swap the module's :data:`runner` for a scripted one."""

    def run(self, argv, *, timeout, env, input=None, cwd=None):
        """(rc, stdout, stderr); raises subprocess.TimeoutExpired, FileNotFoundError.

        A command that outlives its budget is killed, then given KILL_GRACE seconds to go.  A
        child stuck in D state (I/O on a dead NFS mount) cannot die before its I/O returns:
        it is abandoned, never waited for (subprocess.run would wait for it forever)."""
        import subprocess
        process = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                                   env=env, cwd=cwd, close_fds=True)
        try:
            stdout, stderr = process.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            try:
                process.communicate(timeout=KILL_GRACE)
            except subprocess.TimeoutExpired:
                log.warning("run: %s (pid %d) does not die (D state?); abandoned", argv[0], process.pid)
                for stream in (process.stdin, process.stdout, process.stderr):
                    _close_quietly(stream)
            raise
        return process.returncode, stdout, stderr

    def spawn(self, argv, *, env):
        import subprocess
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env, close_fds=True).pid

    def stream(self, argv, on_output, *, timeout, env):
        return _stream(argv, on_output, timeout=timeout, env=env)


def _close_quietly(stream):
    try:
        if stream is not None:
            stream.close()
    except OSError:
        pass


def run(argv, *, timeout=None, deadline=None, env=None, input=None, cwd=None, quiet=False):
    """Run argv to completion and return a :class:`Result`.

    ``env`` adds variables to the fixed environment (a password belongs there,
    never in argv).  Raises CommandTimeout when the budget runs out and
    FileNotFoundError when the program is missing.
    """
    argv = _checked_argv(argv)
    budget = _budget(timeout, deadline)
    started = time.monotonic()
    try:
        rc, stdout, stderr = runner.run(argv, timeout=budget, env=_environment(env), input=input, cwd=cwd)
    except FileNotFoundError:
        log.debug("run: %s: not found", argv[0])
        raise
    except Exception as error:  # subprocess.TimeoutExpired, without importing subprocess here
        if type(error).__name__ != "TimeoutExpired":
            raise
        log.warning("run: %s killed after %.1fs", log.redact(" ".join(argv)), budget)
        raise CommandTimeout("%s did not finish within %.1fs" % (argv[0], budget)) from None
    result = Result(argv, rc, stdout, stderr, time.monotonic() - started)
    if result.ok or quiet:
        log.debug("run: %s -> rc=0 in %.3fs", log.redact(" ".join(argv)), result.seconds)
    else:
        log.info("run: %s -> rc=%d in %.3fs: %s", log.redact(" ".join(argv)), result.rc,
                 result.seconds, result.last_error_line())
    return result


def spawn(argv, *, env=None):
    """Start argv in the background and return at once (e.g. repeated gratuitous ARPs).

    The child stays in the agent's process group: if Pacemaker kills the action
    at its timeout, the helper dies with it.
    """
    argv = _checked_argv(argv)
    pid = runner.spawn(argv, env=_environment(env))
    log.debug("spawn: %s (pid %d)", log.redact(" ".join(argv)), pid)
    return pid


def stream(argv, on_output, *, timeout=None, env=None):
    """Run argv and hand its output to on_output(text) as it comes (a progress display).

    stdout and stderr are merged.  Returns the exit status; raises CommandTimeout.
    """
    argv = _checked_argv(argv)
    started = time.monotonic()
    rc = runner.stream(argv, lambda text: on_output(log.redact(text)), timeout=timeout, env=_environment(env))
    log.info("run: %s -> rc=%d in %.1fs", log.redact(" ".join(argv)), rc, time.monotonic() - started)
    return rc


def _stream(argv, on_output, *, timeout, env):
    import select
    import subprocess
    started = time.monotonic()
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, env=env, close_fds=True)
    try:
        while True:
            if timeout is not None and time.monotonic() - started > timeout:
                raise CommandTimeout("%s did not finish within %.0fs" % (argv[0], timeout))
            if not select.select([process.stdout], [], [], 1.0)[0]:
                continue
            chunk = process.stdout.read1(4096)
            if not chunk:
                break
            on_output(chunk.decode("utf-8", "replace"))
        rc = process.wait()
    finally:
        process.stdout.close()
        if process.poll() is None:  # interrupted: let it clean up (rsync keeps its partial file)
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return rc


runner = Runner()
