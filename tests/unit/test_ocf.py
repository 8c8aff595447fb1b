"""The OCF shim, in-process: exit codes, parameters, meta-data, deadline, probes."""
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xcatha import ocf
from xcatha.ocf import ExitCode

DTD_DIR = "/usr/share/resource-agents"
RNG = "/usr/share/pcs/data/ocf-1.1.rng"
TESTS = Path(__file__).resolve().parent.parent


def make_agent(handlers=None, parameters=None, actions=None, **descriptions):
    agent = ocf.Agent(
        name=descriptions.get("name", "probe-me"),
        shortdesc=descriptions.get("shortdesc", "A test agent"),
        longdesc=descriptions.get("longdesc", "Only for tests."),
        parameters=parameters if parameters is not None else [
            ocf.Parameter("ip", ocf.IPAddress(), "Address", "The address.", required=True, unique=True),
            ocf.Parameter("count", ocf.Integer(0, 10), "Count", "How many.", default=3),
            ocf.Parameter("flag", ocf.Boolean(), "Flag", "On or off.", default=False),
            ocf.Parameter("engine", ocf.Choice("postgresql", "mysql"), "Engine", "Which.",
                          default="postgresql"),
            ocf.Parameter("dirs", ocf.PathList(), "Dirs", "Which dirs.", default=["/install"]),
            ocf.Parameter("note", ocf.String(), "Note", "Free text.", reloadable=True),
        ],
        actions=actions if actions is not None else [
            ocf.Action("start", 20), ocf.Action("stop", 30),
            ocf.Action("monitor", 20, interval=10, depth=0),
            ocf.Action("monitor", 30, interval=60, depth=10),
        ],
    )
    for action, function in (handlers or {}).items():
        agent.handler(action)(function)
    return agent


@pytest.fixture
def environ(monkeypatch):
    for name in list(os.environ):
        if name.startswith(("OCF_", "HA_", "PCMK_", "__OCF")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OCF_RESOURCE_INSTANCE", "rsc1")
    return monkeypatch


def exit_reasons(text):
    return [line for line in text.splitlines() if line.startswith("ocf-exit-reason:")]


# ---------------------------------------------------------------- meta-data
def test_metadata_validates_against_the_dtd_and_pcs_rng(tmp_path):
    xml = make_agent().metadata()
    dtd = subprocess.run(["xmllint", "--noout", "--valid", "-"], input=xml, text=True,
                         capture_output=True, cwd=DTD_DIR)
    assert dtd.returncode == 0, dtd.stderr
    (tmp_path / "md.xml").write_text(xml)
    rng = subprocess.run(["xmllint", "--noout", "--relaxng", RNG, str(tmp_path / "md.xml")],
                         text=True, capture_output=True, cwd=DTD_DIR)
    assert rng.returncode == 0, rng.stderr


def test_metadata_declares_ocf_1_1_and_every_parameter():
    root = ET.fromstring(make_agent().metadata().split("]>", 1)[1])
    assert root.find("version").text == "1.1"
    parameters = {p.get("name"): p for p in root.iter("parameter")}
    assert parameters["ip"].get("required") == "1" and parameters["ip"].get("unique") == "1"
    assert parameters["note"].get("reloadable") == "1"
    assert parameters["count"].find("content").get("type") == "integer"
    assert parameters["count"].find("content").get("default") == "3"
    assert parameters["flag"].find("content").get("default") == "false"
    assert "One of: postgresql, mysql." in parameters["engine"].find("longdesc").text
    actions = [(a.get("name"), a.get("depth"), a.get("interval")) for a in root.iter("action")]
    assert ("monitor", "10", "60s") in actions and ("monitor", "0", "10s") in actions
    # reloadable parameters bring the reload-agent action; meta-data and validate-all are built in
    assert {"reload-agent", "validate-all", "meta-data"} <= {a[0] for a in actions}


@settings(max_examples=40, deadline=None)
@given(text=st.text(min_size=1, max_size=80).filter(lambda t: t.strip() and "\x00" not in t))
def test_metadata_escapes_every_text(text):
    clean = "".join(ch for ch in text if ch in "\t\n\r" or ord(ch) >= 32)
    clean = "".join(ch for ch in clean if not 0xD800 <= ord(ch) <= 0xDFFF and ch not in "\ufffe\uffff")
    if not clean.strip():
        return
    agent = make_agent(longdesc="<x>&" + clean, shortdesc='"quoted" & <tag>')
    root = ET.fromstring(agent.metadata().split("]>", 1)[1])
    assert root.find("shortdesc").text == '"quoted" & <tag>'
    # XML parsers normalise line ends; everything else must come back unchanged
    expected = ("<x>&" + clean).strip().replace("\r\n", "\n").replace("\r", "\n")
    assert root.find("longdesc").text == expected


def test_metadata_and_usage_need_nothing(environ, capsys):
    agent = make_agent()
    assert agent.run(["meta-data"]) == ExitCode.SUCCESS
    out, err = capsys.readouterr()
    assert out.startswith("<?xml") and err == ""
    assert agent.run(["usage"]) == ExitCode.SUCCESS
    assert "usage: probe-me" in capsys.readouterr().out


# ---------------------------------------------------------------- actions and exit codes
def test_unknown_action_is_unimplemented(environ, capsys):
    assert make_agent().run(["frobnicate"]) == ExitCode.ERR_UNIMPLEMENTED
    out, err = capsys.readouterr()
    assert out == "" and len(exit_reasons(err)) == 1


def test_missing_action_is_an_argument_error(environ, capsys):
    assert make_agent().run([]) == ExitCode.ERR_ARGS
    assert len(exit_reasons(capsys.readouterr().err)) == 1


def test_action_from_ocf_tester_variable(environ):
    environ.setenv("__OCF_ACTION", "monitor")
    environ.setenv("OCF_RESKEY_ip", "192.0.2.10")
    agent = make_agent({"monitor": lambda ctx: ExitCode.NOT_RUNNING})
    assert agent.run([]) == ExitCode.NOT_RUNNING


@pytest.mark.parametrize("action,expected", [
    ("start", ExitCode.ERR_CONFIGURED), ("validate-all", ExitCode.ERR_CONFIGURED),
    ("stop", ExitCode.SUCCESS), ("monitor", ExitCode.NOT_RUNNING)])
def test_missing_required_parameter(environ, capsys, action, expected):
    called = []
    agent = make_agent({name: called.append for name in ("start", "stop", "monitor")})
    assert agent.run([action]) == expected
    assert called == []  # the handler never sees an invalid configuration
    reasons = exit_reasons(capsys.readouterr().err)
    assert len(reasons) == (1 if expected == ExitCode.ERR_CONFIGURED else 0)
    if reasons:
        assert "required parameter ip" in reasons[0]


@pytest.mark.parametrize("name,value", [
    ("ip", "10.0.0.300"), ("ip", "not an address"), ("count", "11"), ("count", "three"),
    ("flag", "maybe"), ("engine", "oracle"), ("dirs", "install"), ("dirs", "/a/../b"),
    ("note", "two\nlines"), ("note", "x" * 5000), ("note", "bad\udcffbytes")])
def test_invalid_values_are_configuration_errors(environ, capsys, name, value):
    environ.setenv("OCF_RESKEY_ip", "192.0.2.10")
    environ.setenv("OCF_RESKEY_" + name, value)
    agent = make_agent({"start": lambda ctx: None, "stop": lambda ctx: None,
                        "monitor": lambda ctx: ExitCode.SUCCESS})
    assert agent.run(["start"]) == ExitCode.ERR_CONFIGURED
    reasons = exit_reasons(capsys.readouterr().err)
    assert len(reasons) == 1 and "parameter %s=" % name in reasons[0]
    assert "\n" not in reasons[0]
    assert agent.run(["stop"]) == ExitCode.SUCCESS
    assert agent.run(["monitor"]) == ExitCode.NOT_RUNNING


def test_typed_values_reach_the_handler(environ):
    seen = {}
    environ.setenv("OCF_RESKEY_ip", "192.0.2.10")
    environ.setenv("OCF_RESKEY_count", "7")
    environ.setenv("OCF_RESKEY_flag", "yes")
    environ.setenv("OCF_RESKEY_dirs", "/install  /etc/xcat")
    environ.setenv("OCF_RESKEY_note", "")  # empty = unset, as in shell agents
    agent = make_agent({"start": lambda ctx: seen.update(vars(ctx.params))})
    assert agent.run(["start"]) == ExitCode.SUCCESS
    assert str(seen["ip"]) == "192.0.2.10" and seen["count"] == 7 and seen["flag"] is True
    assert seen["dirs"] == ["/install", "/etc/xcat"] and seen["engine"] == "postgresql"
    assert seen["note"] is None


def test_command_line_overrides_the_environment(environ):
    seen = {}
    environ.setenv("OCF_RESKEY_ip", "192.0.2.10")
    environ.setenv("OCF_RESKEY_count", "7")
    agent = make_agent({"monitor": lambda ctx: seen.update(vars(ctx.params))})
    assert agent.run(["--ip", "192.0.2.99", "monitor"]) == ExitCode.SUCCESS
    assert str(seen["ip"]) == "192.0.2.99" and seen["count"] == 7
    assert agent.run(["--cidr-netmask", "24", "monitor"]) == ExitCode.ERR_ARGS  # unknown option


_env_values = st.one_of(st.none(), st.just(""), st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30),
    st.sampled_from(["192.0.2.1", "::1", "2001:db8::5", "0", "10", "-1", "yes", "false",
                     "/install /tftpboot", "mysql", "postgresql"]))


@settings(max_examples=150, deadline=None)
@given(values=st.fixed_dictionaries({name: _env_values for name in
                                     ("ip", "count", "flag", "engine", "dirs", "note")}))
def test_pacemaker_and_command_line_paths_agree(values):
    """Pacemaker's call (env only, click not imported) and a person's call (through click,
    forced by "--") see the same values and give the same exit code."""
    agent = make_agent()
    results = []
    saved = dict(os.environ)
    try:
        for name, value in values.items():
            os.environ.pop("OCF_RESKEY_" + name, None)
            if value is not None:
                os.environ["OCF_RESKEY_" + name] = value
        for args in (["start"], ["--", "start"]):
            seen = {}
            agent.handlers["start"] = lambda ctx, seen=seen: seen.update(vars(ctx.params))
            results.append((agent.run(args), {k: str(v) for k, v in seen.items()}))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert results[0] == results[1]


def test_handler_error_gives_its_code_and_one_reason(environ, capsys):
    def start(ctx):
        raise ocf.OcfError(ExitCode.ERR_PERM, "cannot write\nthere")
    environ.setenv("OCF_RESKEY_ip", "192.0.2.10")
    assert make_agent({"start": start}).run(["start"]) == ExitCode.ERR_PERM
    out, err = capsys.readouterr()
    assert out == "" and exit_reasons(err) == ["ocf-exit-reason:cannot write there"]


def test_exit_reason_prefix_from_pacemaker(environ, capsys):
    environ.setenv("OCF_EXIT_REASON_PREFIX", "custom-reason:")
    assert make_agent().run(["frob"]) == ExitCode.ERR_UNIMPLEMENTED
    assert "custom-reason:action frob is not implemented" in capsys.readouterr().err


def test_unexpected_exception_is_generic_with_traceback_in_debug_log(environ, capsys, tmp_path):
    def start(ctx):
        raise KeyError("boom")
    logfile, debuglog = tmp_path / "ha.log", tmp_path / "debug.log"
    environ.setenv("OCF_RESKEY_ip", "192.0.2.10")
    environ.setenv("HA_LOGFILE", str(logfile))
    environ.setenv("HA_DEBUGLOG", str(debuglog))
    assert make_agent({"start": start}).run(["start"]) == ExitCode.ERR_GENERIC
    reasons = exit_reasons(capsys.readouterr().err)
    assert len(reasons) == 1 and "KeyError" in reasons[0] and "Traceback" not in reasons[0]
    assert "Traceback" in debuglog.read_text()
    assert "Traceback" not in logfile.read_text()


def test_monitor_never_returns_6(environ, capsys):
    environ.setenv("OCF_RESKEY_ip", "192.0.2.10")
    environ.setenv("OCF_RESKEY_CRM_meta_interval", "10000")

    def bad(ctx):
        raise ocf.OcfError(ExitCode.ERR_CONFIGURED, "cfgloc is broken")
    agent = make_agent({"monitor": bad})
    assert agent.run(["monitor"]) == ExitCode.ERR_GENERIC
    agent = make_agent({"monitor": lambda ctx: ExitCode.ERR_CONFIGURED})
    assert agent.run(["monitor"]) == ExitCode.ERR_GENERIC


@pytest.mark.parametrize("code", [ExitCode.ERR_INSTALLED, ExitCode.ERR_ARGS, ExitCode.ERR_CONFIGURED])
@pytest.mark.parametrize("raised", [True, False])
def test_a_recurring_monitor_never_answers_a_hard_error(environ, capsys, code, raised):
    # shared-data at depth 10 after `chmod g+w /HA-data` (2), the named/xcatd checks (5): a hard
    # error would ban the group from this node, and the storage the other node sees is the same
    environ.setenv("OCF_RESKEY_ip", "192.0.2.10")
    environ.setenv("OCF_RESKEY_CRM_meta_interval", "120000")

    def monitor(ctx):
        if raised:
            raise ocf.OcfError(code, "shared_dir /HA-data must not be writable by group or others")
        return code
    assert make_agent({"monitor": monitor}).run(["monitor"]) == ExitCode.ERR_GENERIC
    assert len(exit_reasons(capsys.readouterr().err)) == 1


@pytest.mark.parametrize("code", [ExitCode.ERR_INSTALLED, ExitCode.ERR_ARGS, ExitCode.ERR_CONFIGURED])
def test_probe_answers_not_running_where_things_are_missing(environ, capsys, code):
    environ.setenv("OCF_RESKEY_ip", "192.0.2.10")
    environ.setenv("OCF_RESKEY_CRM_meta_interval", "0")

    def missing(ctx):
        raise ocf.OcfError(code, "/HA-data is not mounted here")
    assert make_agent({"monitor": missing}).run(["monitor"]) == ExitCode.NOT_RUNNING
    assert exit_reasons(capsys.readouterr().err) == []


@pytest.mark.parametrize("code", [ExitCode.ERR_INSTALLED, ExitCode.ERR_ARGS, ExitCode.ERR_CONFIGURED])
def test_stop_does_not_fail_on_configuration(environ, code):
    environ.setenv("OCF_RESKEY_ip", "192.0.2.10")

    def stop(ctx):
        raise ocf.OcfError(code, "nic eth9 does not exist")
    assert make_agent({"stop": stop}).run(["stop"]) == ExitCode.SUCCESS


def test_stop_reports_a_real_failure(environ):
    environ.setenv("OCF_RESKEY_ip", "192.0.2.10")

    def stop(ctx):
        raise ocf.OcfError(ExitCode.ERR_GENERIC, "address still present")
    assert make_agent({"stop": stop}).run(["stop"]) == ExitCode.ERR_GENERIC


@pytest.mark.parametrize("interval,probe", [(None, True), ("", True), ("0", True), ("10000", False)])
def test_probe_detection(environ, interval, probe):
    environ.setenv("OCF_RESKEY_ip", "192.0.2.10")
    if interval is not None:
        environ.setenv("OCF_RESKEY_CRM_meta_interval", interval)
    seen = []
    make_agent({"monitor": lambda ctx: seen.append(ctx.probe)}).run(["monitor"])
    assert seen == [probe]


@pytest.mark.parametrize("level,depth", [(None, 0), ("0", 0), ("10", 10), ("15", 10), ("20", 10),
                                         ("junk", 0)])
def test_monitor_depth_falls_back_to_the_next_lower(environ, level, depth):
    environ.setenv("OCF_RESKEY_ip", "192.0.2.10")
    if level is not None:
        environ.setenv("OCF_CHECK_LEVEL", level)
    seen = []
    make_agent({"monitor": lambda ctx: seen.append(ctx.depth)}).run(["monitor"])
    assert seen == [depth]


def test_validate_all_depth_0_is_syntax_only_and_silent(environ, capsys):
    environ.setenv("OCF_RESKEY_ip", "192.0.2.10")
    called = []
    agent = make_agent({"validate-all": lambda ctx: called.append(ctx.depth)})
    assert agent.run(["validate-all"]) == ExitCode.SUCCESS
    assert called == [] and capsys.readouterr() == ("", "")
    environ.setenv("OCF_CHECK_LEVEL", "10")
    assert agent.run(["validate-all"]) == ExitCode.SUCCESS
    assert called == [10]


def test_deadline_comes_from_pacemaker_in_milliseconds(environ):
    environ.setenv("OCF_RESKEY_ip", "192.0.2.10")
    seen = []
    agent = make_agent({"start": lambda ctx: seen.append(ctx.deadline.remaining()),
                        "stop": lambda ctx: seen.append(ctx.deadline.remaining())})
    environ.setenv("OCF_RESKEY_CRM_meta_timeout", "7000")
    agent.run(["start"])
    environ.delenv("OCF_RESKEY_CRM_meta_timeout")
    agent.run(["stop"])  # no meta timeout: the declared one (30 s)
    assert 6.0 < seen[0] <= 7.0 and 29.0 < seen[1] <= 30.0


def test_deadline_share_and_expiry():
    now = [100.0]
    deadline = ocf.Deadline(10, clock=lambda: now[0])
    assert deadline.share(0.5) == 5.0 and deadline.share(0.5, cap=2) == 2
    now[0] = 111.0
    assert deadline.remaining() == 0 and deadline.expired()


# ---------------------------------------------------------------- logging
def test_log_file_lines_are_tagged_with_the_instance(environ, tmp_path, capsys):
    logfile = tmp_path / "pacemaker.log"
    environ.setenv("OCF_RESKEY_ip", "192.0.2.10")
    environ.setenv("HA_logfile", str(logfile))  # the form pacemakerd exports
    environ.setenv("HA_debug", "0")
    from xcatha.log import log

    def start(ctx):
        log.info("adding %s", ctx.params.ip)
        log.debug("hidden detail")
    assert make_agent({"start": start}).run(["start"]) == ExitCode.SUCCESS
    text = logfile.read_text()
    assert "probe-me(rsc1)[" in text and "INFO: adding 192.0.2.10" in text
    assert "hidden detail" not in text
    assert capsys.readouterr().err == ""  # a log target is set: nothing on stderr


def test_debug_flag_as_pacemaker_exports_it(environ, tmp_path):
    logfile = tmp_path / "pacemaker.log"
    environ.setenv("OCF_RESKEY_ip", "192.0.2.10")
    environ.setenv("HA_LOGFILE", str(logfile))
    environ.setenv("HA_debug", "1")
    from xcatha.log import log
    make_agent({"start": lambda ctx: log.debug("visible detail")}).run(["start"])
    assert "DEBUG: visible detail" in logfile.read_text()


def test_syslog_facility(environ, monkeypatch):
    import syslog
    calls = []
    monkeypatch.setattr(syslog, "openlog", lambda ident, option, facility: calls.append(
        ("open", ident, facility)))
    monkeypatch.setattr(syslog, "syslog", lambda priority, message: calls.append(("log", priority, message)))
    environ.setenv("OCF_RESKEY_ip", "192.0.2.10")
    environ.setenv("HA_LOGFACILITY", "local3")
    from xcatha.log import log
    make_agent({"start": lambda ctx: log.warning("careful")}).run(["start"])
    assert ("open", "probe-me(rsc1)", syslog.LOG_LOCAL3) in calls
    assert ("log", 4, "WARNING: careful") in calls


def test_no_target_means_stderr(environ, capsys):
    environ.setenv("OCF_RESKEY_ip", "192.0.2.10")
    from xcatha.log import log
    make_agent({"start": lambda ctx: log.info("to the terminal")}).run(["start"])
    out, err = capsys.readouterr()
    assert out == "" and "INFO: to the terminal" in err


def test_secrets_are_redacted_in_logs_and_exit_reasons(environ, capsys, tmp_path):
    logfile = tmp_path / "ha.log"
    environ.setenv("OCF_RESKEY_ip", "192.0.2.10")
    environ.setenv("HA_LOGFILE", str(logfile))
    from xcatha.log import log

    def start(ctx):
        log.add_secret("s3cr3t-pw")
        log.info("connecting with s3cr3t-pw")
        raise ocf.OcfError(ExitCode.ERR_GENERIC, "login s3cr3t-pw refused")
    make_agent({"start": start}).run(["start"])
    err = capsys.readouterr().err
    assert "s3cr3t-pw" not in err and "s3cr3t-pw" not in logfile.read_text()
    assert "login ******** refused" in err


# ---------------------------------------------------------------- the sample agent, for real
@pytest.fixture(scope="module")
def installed_sample(tmp_path_factory):
    """The sample agent installed where `nobody` can run it, as ocf-tester requires."""
    import tempfile
    directory = Path(tempfile.mkdtemp(prefix="xcatha-sample-"))
    directory.chmod(0o755)
    agent = directory / "sample"
    source = (TESTS / "sample_agent").read_text().split("\n", 1)[1]
    agent.write_text("#!%s -I\n%s" % (sys.executable, source))
    agent.chmod(0o755)
    yield agent
    shutil.rmtree(directory)


def reachable_by_others(path):
    """Whether a user other than root (ocf-tester's `nobody`) can run the interpreter at path."""
    path = Path(os.path.realpath(path))
    return all(part.stat().st_mode & 0o001 for part in [path, *path.parents])


def test_sample_agent_passes_ocf_tester(installed_sample):
    if not reachable_by_others(sys.executable):
        pytest.skip("ocf-tester runs the agent as nobody, who cannot reach %s (a pyenv build under /root)"
                    % sys.executable)
    state = installed_sample.parent / "sample.state"
    result = subprocess.run(["ocf-tester", "-n", "sample1", "-o", "state=%s" % state,
                             str(installed_sample)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed all tests" in result.stdout


def test_sample_agent_by_hand_and_by_environment(installed_sample):
    state = installed_sample.parent / "by-hand.state"
    env = {"PATH": "/usr/bin:/bin"}
    by_hand = subprocess.run([str(installed_sample), "--state", str(state), "start"], env=env,
                             capture_output=True, text=True)
    assert by_hand.returncode == 0 and by_hand.stdout == "" and state.exists()
    by_env = subprocess.run([str(installed_sample), "monitor"], capture_output=True, text=True,
                            env=dict(env, OCF_RESKEY_state=str(state), OCF_CHECK_LEVEL="10"))
    assert by_env.returncode == 0 and by_env.stdout == ""
    bad = subprocess.run([str(installed_sample), "--retries", "99", "start"], env=env,
                         capture_output=True, text=True)
    assert bad.returncode == 6 and len(exit_reasons(bad.stderr)) == 1
    assert "Traceback" not in bad.stderr


def test_changing_actions_log_their_duration_and_own_cpu(environ, tmp_path):
    logfile = tmp_path / "ha.log"
    environ.setenv("OCF_RESKEY_ip", "192.0.2.10")
    environ.setenv("HA_LOGFILE", str(logfile))
    agent = make_agent({"start": lambda ctx: None, "monitor": lambda ctx: ExitCode.SUCCESS})
    agent.run(["start"])
    agent.run(["monitor"])
    lines = logfile.read_text().splitlines()
    assert len(lines) == 1 and "start: rc=0 (SUCCESS) in " in lines[0] and "own CPU" in lines[0]


@pytest.mark.parametrize("text", ["0.0.0.0", "224.0.0.1", "127.0.0.1", "169.254.1.1", "fe80::1", "::1",
                                  "240.0.0.1", "ff02::1"])
def test_addresses_no_host_can_serve_are_refused(text):
    with pytest.raises(ValueError):
        ocf.IPAddress().check_text(text)
