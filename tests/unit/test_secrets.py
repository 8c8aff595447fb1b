"""Secrets are whole values: found as a value in a command line or a log line, never inside another word."""
import pytest

from xcatha import run
from xcatha.log import log


def test_a_password_that_is_a_prefix_of_the_database_name_is_no_leak(runner):
    log.add_secret("xcat")  # pgsqlsetup accepts letters and digits: cfgloc's password may be `xcat`
    argv = ["psql", "-X", "-h", "192.168.73.10", "-U", "xcatadm", "-d", "xcatdb", "-c", "SELECT 1"]
    assert run._checked_argv(argv) == argv
    assert log.redact("psql -d xcatdb -U xcatadm /etc/xcat/cfgloc") == "psql -d xcatdb -U xcatadm /etc/xcat/cfgloc"


@pytest.mark.parametrize("arg", ["xcat", "password=xcat", "--password=xcat", "Pg:dbname=xcatdb;host=a|xcatadm|xcat"])
def test_the_password_as_a_value_is_refused_in_argv_and_redacted_in_logs(arg):
    log.add_secret("xcat")
    with pytest.raises(ValueError):
        run._checked_argv(["tool", arg])
    assert "xcat" not in log.redact(arg).replace("xcatdb", "").replace("xcatadm", "")


def test_a_secret_that_contains_another_is_redacted_whole():
    log.add_secret("pass")
    log.add_secret("pass word!")
    assert log.redact("password=pass word!") == "password=********"


def test_the_runner_is_injectable(runner):
    from .conftest import Call
    runner.expect(Call(["systemctl", "is-enabled", "xcatd.service"], rc=1, stdout="disabled\n"))
    result = run.run(["systemctl", "is-enabled", "xcatd.service"])
    assert (result.rc, result.stdout) == (1, "disabled\n")
