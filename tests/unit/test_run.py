"""The one door to processes: argv only, explicit environment, timeouts, redaction."""
import time

import pytest

from xcatha import ocf, run
from xcatha.log import log


def test_argv_list_only():
    with pytest.raises(TypeError):
        run.run("echo hello")
    with pytest.raises(TypeError):
        run.run([])


def test_no_shell_interprets_the_arguments():
    result = run.run(["/bin/echo", "$HOME; touch /tmp/never", "`id`"])
    assert result.ok and result.stdout == "$HOME; touch /tmp/never `id`\n"


def test_explicit_environment(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    monkeypatch.setenv("SECRET_FROM_CALLER", "leak")
    result = run.run(["env"], env={"PGPASSWORD": "pw"})
    lines = set(result.stdout.splitlines())
    assert {"LC_ALL=C", "LANG=C", "PATH=" + run.SAFE_PATH, "PGPASSWORD=pw"} <= lines
    assert not any(line.startswith("SECRET_FROM_CALLER") for line in lines)


def test_result_and_last_error_line():
    result = run.run(["sh", "-c", "echo out; echo first >&2; echo 'the real reason' >&2; exit 3"])
    assert (result.rc, result.ok) == (3, False)
    assert result.last_error_line() == "the real reason"
    assert run.run(["false"]).last_error_line() == "exit status 1"
    # psql's way (recorded on the host): the reason, then an indented hint
    hinted = run.run(["sh", "-c", "printf 'psql: error: ... failed: Connection refused\\n\\tIs the server running on "
                                  "that host and accepting TCP/IP connections?\\n' >&2; exit 2"])
    assert hinted.last_error_line() == "psql: error: ... failed: Connection refused"
    assert run.run(["sh", "-c", "echo '  only indented' >&2; exit 1"]).last_error_line() == "only indented"


def test_timeout_kills_the_command():
    started = time.monotonic()
    with pytest.raises(run.CommandTimeout):
        run.run(["sleep", "30"], timeout=0.3)
    assert time.monotonic() - started < 5


def test_deadline_bounds_the_timeout():
    deadline = ocf.Deadline(0.3)
    with pytest.raises(run.CommandTimeout):
        run.run(["sleep", "30"], timeout=60, deadline=deadline)


def test_missing_program():
    with pytest.raises(FileNotFoundError):
        run.run(["/nonexistent/program"])


def test_secret_never_reaches_argv():
    log.add_secret("hunter2")
    with pytest.raises(ValueError):
        run.run(["echo", "--password=hunter2"])
    with pytest.raises(ValueError):
        run.spawn(["echo", "hunter2"])


def test_secrets_redacted_in_the_log(tmp_path):
    logfile = tmp_path / "log"
    log.configure(logfile=str(logfile), to_stderr=False)
    log.add_secret("hunter2")
    result = run.run(["sh", "-c", 'echo "password $PW is wrong" >&2; exit 1'], env={"PW": "hunter2"})
    assert "hunter2" in result.stderr  # the caller gets the raw output
    assert result.last_error_line() == "password ******** is wrong"
    text = logfile.read_text()
    assert "hunter2" not in text and "password ******** is wrong" in text


def test_one_log_line_per_command(tmp_path):
    logfile = tmp_path / "log"
    log.configure(logfile=str(logfile), to_stderr=False, level=10)
    run.run(["true"])
    run.run(["false"])
    lines = logfile.read_text().splitlines()
    assert len(lines) == 2 and "rc=0" in lines[0] and "rc=1" in lines[1]


def test_spawn_returns_at_once(tmp_path):
    marker = tmp_path / "done"
    started = time.monotonic()
    run.spawn(["sh", "-c", "sleep 0.3; touch %s" % marker])
    assert time.monotonic() - started < 0.3 and not marker.exists()
    for _ in range(50):
        if marker.exists():
            break
        time.sleep(0.05)
    assert marker.exists()


def test_a_killed_child_that_cannot_die_is_abandoned_not_waited_for(monkeypatch):
    # A child in D state on a dead NFS mount survives SIGKILL until its I/O returns: the
    # storage probe must give up on it, never wait for it after the kill.
    import subprocess

    class StuckInDState:
        pid, returncode = 4242, None
        stdin = stdout = stderr = None

        def __init__(self, argv, **kwargs):
            self.killed = False

        def communicate(self, input=None, timeout=None):
            raise subprocess.TimeoutExpired("probe", timeout)

        def kill(self):
            self.killed = True

        def wait(self, timeout=None):
            if timeout is None:
                raise AssertionError("waited without a bound for a child that cannot die")
            raise subprocess.TimeoutExpired("probe", timeout)

        def poll(self):
            return None

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.wait()

    monkeypatch.setattr(subprocess, "Popen", StuckInDState)
    started = time.monotonic()
    with pytest.raises(run.CommandTimeout):
        run.run(["python3", "-c", "probe"], timeout=0.2)
    assert time.monotonic() - started < 3
