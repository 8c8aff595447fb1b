"""Hostile configuration: hypothesis-generated cluster.conf files and command-line arguments.

Every `xcatha` command given one ends with one clear error line and a non-zero exit status,
without a traceback, and runs no command at all: the runner injected here fails the test on
the first one (read-only or not), so nothing on the host or in the CIB can have changed.
The base config is the shipped example, which loads; each example breaks it in one to three
ways that must each be refused (a missing section or key, a value of the wrong type, an
address outside the VIP's network, a duplicate node, bytes that are not UTF-8, a huge value).
"""
import ipaddress
import os
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from xcatha import cli, cluster_config, run

EXAMPLE = Path(__file__).resolve().parents[2] / "cluster-config" / "xcatha.conf"
NET = ipaddress.ip_network("192.168.77.0/24")   # the example's network

# Every command, with the arguments it needs besides -c.
COMMANDS = [
    ["setup", "begin"], ["setup", "finish"], ["setup", "units"], ["setup", "convert", "--new-ip", "192.168.77.31/24"],
    ["activate"], ["activate", "--fence-peer"], ["deactivate"], ["deactivate", "--force"], ["status"], ["check"],
    ["cluster-config", "apply"], ["cluster-config", "apply", "--force"], ["cluster-config", "export"],
    ["boot-cleanup"], ["activate", "--dry-run"], ["setup", "begin", "--dry-run"],
]


class RefusingRunner:
    """Fails the test on any command: a refused config must be refused before the first one."""

    def __init__(self):
        self.seen = []

    def _refuse(self, argv):
        self.seen.append(argv)
        raise AssertionError("a command ran for a hostile input: %r" % (argv,))

    def run(self, argv, **_):
        self._refuse(argv)

    def spawn(self, argv, **_):
        self._refuse(argv)

    def stream(self, argv, on_output, **_):
        self._refuse(argv)


# ---------------------------------------------------------------- the example, as sections
def sections(text=None):
    """[(header, [(key, value)])] of the example config, comments dropped."""
    found = []
    for line in (text or EXAMPLE.read_text()).splitlines():
        line = line.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if line.startswith("["):
            found.append((line[1:-1], []))
        else:
            key, value = (part.strip() for part in line.split("=", 1))
            found[-1][1].append((key, value))
    return found


def render(parts):
    return "\n".join("[%s]\n%s\n" % (header, "\n".join("%s = %s" % item for item in items))
                     for header, items in parts).encode("utf-8")


def replace(parts, header, key, value):
    return [(h, [(k, value if (h, k) == (header, key) else v) for k, v in items]) for h, items in parts]


# ---------------------------------------------------------------- what breaks it, each for sure
letters = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12)
huge_number = st.integers(min_value=10 ** 6 + 1, max_value=10 ** 40).map(str)
not_an_address = st.one_of(letters, huge_number, st.just("192.168.77.300"), st.just("192.168.77"),
                           st.just("::g"), st.just("0.0.0.0"), st.just("224.0.0.1"))
outside = st.integers(min_value=1, max_value=2 ** 32 - 2).map(ipaddress.IPv4Address).filter(
    lambda a: a not in NET and not (a.is_multicast or a.is_reserved or a.is_loopback or a.is_unspecified
                                    or a.is_link_local)).map(str)

WRONG = {  # (section, key) -> values of the wrong type for it
    ("vip", "ip"): not_an_address,
    ("vip", "cidr_netmask"): st.one_of(letters, huge_number, st.integers(-10 ** 9, 0).map(str), st.just("33"),
                                       st.just("255.255.255.0")),
    ("vip", "nic"): st.one_of(st.just("eth0/1"), st.just("a" * 16), st.just("eth 0")),
    ("vip", "hostname"): st.one_of(st.just("xcat mn"), st.just("-xcatmn"), st.just("xcat_mn"), st.just("a" * 64)),
    ("vip", "fqdn"): st.one_of(st.just("xcatmn..lab"), st.just("xcatmn.clu ster.lab"), st.just("x" * 300)),
    ("shared", "dir"): st.one_of(letters, st.just("HA-data"), st.just("/HA-data/../etc")),
    ("shared", "require_mount"): st.one_of(st.just("perhaps"), st.just("2"), huge_number),
    ("database", "engine"): st.one_of(letters.filter(lambda w: w not in cluster_config.ENGINES),
                                      st.just("PostgreSQL"), st.just("mariadb")),
    ("console", "type"): st.one_of(letters.filter(lambda w: w not in ("conserver", "goconserver"))),
    ("dhcp", "backend"): st.one_of(st.just("auto"), st.just("ISC"), st.just("dnsmasq")),
    ("timings", "resource_stickiness"): st.one_of(letters.filter(lambda w: w != "infinity"), huge_number,
                                                  st.just("1.5")),
    ("timings", "migration_threshold"): st.one_of(st.just("-1"), st.just("-INFINITY"), huge_number, letters),
    ("timings", "failure_timeout"): st.one_of(st.just("10 minutes"), st.just("-5s"), st.just("9" * 20 + "s"),
                                              st.just("ten")),
    ("node host1", "address"): not_an_address,
    ("node host2", "fence_agent"): st.one_of(st.just("ipmilan"), st.just("fence_ipmi lan"),
                                             st.just("/usr/sbin/fence_ipmilan"), st.just("fence_" + "x" * 80)),
    ("node host2", "fence_delay"): st.one_of(st.just("3 s"), st.just("soon"), st.just("1" * 12)),
}
REQUIRED = [(s, k) for s, keys in cluster_config.REQUIRED.items() for k in keys] + \
    [("node host1", "address"), ("node host2", "fence_agent")]


@st.composite
def breakage(draw, parts):
    """(parts, what was done): one way of breaking the config, chosen by hypothesis."""
    how = draw(st.sampled_from(["section", "key", "type", "outside", "duplicate", "vip-twice", "huge",
                                "control", "nameless"]))
    if how == "section":
        header = draw(st.sampled_from(["vip", "shared", "database", "console", "node host1", "node host2"]))
        return [p for p in parts if p[0] != header], how + " " + header
    if how == "key":
        header, key = draw(st.sampled_from(REQUIRED))
        return [(h, [(k, v) for k, v in items if (h, k) != (header, key)]) for h, items in parts], how + " " + key
    if how == "type":
        header, key = draw(st.sampled_from(sorted(WRONG)))
        return replace(parts, header, key, draw(WRONG[(header, key)])), how + " " + key
    if how == "outside":
        return replace(parts, draw(st.sampled_from(["node host1", "node host2"])), "address",
                       draw(outside)), how
    if how == "duplicate":
        name = draw(st.sampled_from(["host1", " host1", "host1 ", "HOST1", "host1."]))
        return [("node " + name if h == "node host2" else h, items) for h, items in parts], how
    if how == "vip-twice":
        return replace(parts, "node host2", "address", "192.168.77.11"
                       if draw(st.booleans()) else "192.168.77.10"), how
    if how == "huge":
        header, key = draw(st.sampled_from([("vip", "hostname"), ("shared", "dir"), ("node host1", "fence_username"),
                                            ("vip", "fqdn")]))
        return replace(parts, header, key, "a" * draw(st.integers(5000, 200000))), how + " " + key
    if how == "control":
        header, key = draw(st.sampled_from([("vip", "nic"), ("shared", "dir"), ("node host1", "fence_password")]))
        char = draw(st.sampled_from(["\x01", "\x1b", "\x7f", "\x00"]))
        return replace(parts, header, key, "ab%scd" % char), how
    return parts + [("node ", [("address", "192.168.77.13"), ("fence_agent", "fence_ipmilan")])], how


@st.composite
def hostile_file(draw):
    """The bytes of a broken config file, and what broke it."""
    parts, done = sections(), []
    for _ in range(draw(st.integers(1, 3))):
        parts, what = draw(breakage(parts))
        done.append(what)
    data = render(parts)
    if draw(st.integers(0, 5)) == 0:   # bytes that are not UTF-8, somewhere in the file
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xe2\x82", b"\x80abc"])) + data[at:]
        done.append("not UTF-8")
    return data, done


def one_error_line(output):
    """The output's only line that reports an error (ours, or click's for a usage error)."""
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("xcatha: error: ", "Error: "))]
    assert len(errors) == 1, output
    if errors[0].startswith("xcatha: error: "):
        assert lines == errors, output       # nothing but that line
    return errors[0]


def invoke(args, tmp):
    refusing = RefusingRunner()
    saved_runner, saved_log = run.runner, cli.LOG_FILE
    run.runner, cli.LOG_FILE = refusing, str(tmp / "log" / "xcatha.log")
    try:
        result = CliRunner().invoke(cli.main, args)
    finally:
        run.runner, cli.LOG_FILE = saved_runner, saved_log
    assert not refusing.seen, refusing.seen
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result


def listing(directory):
    return sorted((str(path.relative_to(directory)), path.stat().st_size) for path in directory.rglob("*")
                  if "log" not in path.parts)


# ---------------------------------------------------------------- the tests
def test_the_example_itself_loads(tmp_path):
    """The breakages start from a config that is good: what is refused is what they did."""
    assert len(cluster_config.load(str(_write(tmp_path, render(sections())))).nodes) == 2


def _write(directory, data):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "cluster.conf"
    path.write_bytes(data)
    path.chmod(0o600)
    return path


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(broken=hostile_file(), command=st.sampled_from(COMMANDS))
def test_a_hostile_config_is_one_error_line_and_changes_nothing(tmp_path, broken, command):
    data, done = broken
    for what in done:
        event(what.split()[0])
    path = _write(tmp_path / "etc", data)
    before = listing(tmp_path)
    result = invoke(command + ["-c", str(path)], tmp_path)
    line = one_error_line(result.output)
    assert line.startswith("xcatha: error: %s: " % path), (done, line)
    assert result.exit_code == 1, (done, result.output)
    assert listing(tmp_path) == before


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argument=st.one_of(
    st.just([]), st.just(["--no-such-option"]), st.just(["-c"]), st.just(["-c", ""]), st.just(["-c", "/"]),
    st.just(["-c", "/nonexistent/\udcff\udcfe.conf"]), st.just(["-c", "/tmp/a\x00b"]),
    st.just(["-c", "/dev/null"]), st.just(["extra", "words"]),
    st.text(min_size=1, max_size=40).map(lambda text: ["-c", "/nonexistent/" + text.replace("/", "_")]),
    st.binary(min_size=1, max_size=20).map(lambda raw: ["-c", "/nonexistent/" + os.fsdecode(raw).replace("/", "_")])),
    command=st.sampled_from(COMMANDS))
def test_hostile_arguments_are_one_error_line_and_change_nothing(tmp_path, argument, command):
    args = command + argument
    if "-c" not in argument:
        args += ["-c", "/nonexistent/cluster.conf"]
    result = invoke(args, tmp_path)
    one_error_line(result.output)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(new_ip=st.one_of(letters, st.just("192.168.77.10/24"), st.just("1.2.3.4/33"), st.just("")),
       bwlimit=st.one_of(st.none(), st.just("; rm -rf /"), st.just("50 M"), st.just("-1"),
                         letters.map(lambda w: w + "x")))
def test_convert_refuses_a_bad_new_ip_or_rate_before_any_command(tmp_path, new_ip, bwlimit):
    """A good config, bad arguments: refused before the first command (convert changes the host's
    addresses and copies the data: a late refusal would leave it half converted)."""
    path = _write(tmp_path / "etc", render(sections()))
    args = ["setup", "convert", "-c", str(path), "--new-ip", new_ip] + (["--bwlimit", bwlimit] if bwlimit else [])
    result = invoke(args, tmp_path)
    assert result.exit_code == 1 and one_error_line(result.output).startswith("xcatha: error: --")


def test_the_refusing_runner_does_refuse(tmp_path):
    """The guard works: a good config with a command that must ask the host fails through it."""
    path = _write(tmp_path / "etc", render(sections()))
    saved = run.runner
    run.runner = refusing = RefusingRunner()
    try:
        CliRunner().invoke(cli.main, ["status", "-c", str(path)])
    finally:
        run.runner = saved
    assert refusing.seen
