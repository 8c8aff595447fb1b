"""Hostile input to every agent: generated parameter values never produce a traceback, an
undefined exit code, a hang past the deadline, or a change to the host when they are invalid."""
import importlib.machinery
import importlib.util
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab import xcat

from .support import exit_reason, host_state

AGENTS = ("vip", "shared-data", "db", "xcatd", "named", "dhcpd", "conserver")
# The checkout's agents: the nodes run its package; the host's may be anyone's `make install`.
SOURCE = Path(__file__).resolve().parents[2] / "agents"
DEADLINE_S = 5
DEFINED = {0, 1, 2, 3, 4, 5, 6, 7}

# An environment variable cannot hold a NUL byte, so no generated value has one.
TEXT = st.characters(blacklist_characters="\x00")
HOSTILE = st.one_of(
    st.just(""), st.text(TEXT, min_size=300, max_size=5000), st.text(TEXT, max_size=40),
    st.sampled_from(["$(reboot)", "`id`", "; rm -rf /", "a\nb", "a\rb", "../../etc", "etc/xcat",
                     "/install/../etc", "\udcff\udcfe", "ünïcödé", "2001:db8::10", "::ffff:10.0.0.1",
                     "192.168.77.300", "-1", "999999999999999999999", "1e3", "0x10", " 5 ", "mysql",
                     "sqlite", "oracle", "/", "/HA-data/install", "eth0:1", "x" * 16, "true", "maybe"]),
)


def declaration(name):
    """The agent's own declaration, from the checkout the nodes' package was built from."""
    loader = importlib.machinery.SourceFileLoader("agent_" + name.replace("-", "_"), "%s/%s" % (SOURCE, name))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module.agent


def valid(parameter, value):
    if value == "":
        return True  # empty means unset, as in shell agents
    try:
        parameter.type.check_text(value)
        return True
    except ValueError:
        return False


@pytest.fixture(scope="module")
def hostile(agent_lab):
    agent_lab.provision("postgresql")
    agent_lab.stop_all()
    yield agent_lab
    agent_lab.stop_all()


@pytest.mark.parametrize("name", AGENTS)
def test_generated_values(hostile, name):
    agent = declaration(name)
    names = [p.name for p in agent.parameters]

    @settings(max_examples=12, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(target=st.sampled_from(names), value=HOSTILE)
    def check(target, value):
        parameter = next(p for p in agent.parameters if p.name == target)
        params = dict(hostile.params(name))
        params[target] = value
        is_valid = valid(parameter, value)
        before = host_state(hostile)
        for action in (["validate-all", "monitor", "stop"] if is_valid else ["start", "validate-all", "monitor",
                                                                            "stop"]):
            started = time.monotonic()
            result = xcat.agent(hostile.node, name, action, params, timeout=DEADLINE_S,
                                env={"OCF_RESKEY_bogus_unknown": value})
            elapsed = time.monotonic() - started
            assert "Traceback" not in result.stderr, result.stderr
            assert result.returncode in DEFINED, (action, result.returncode, result.stderr)
            assert elapsed < DEADLINE_S + 3, (action, elapsed)
            if not is_valid:
                expected = {"start": 6, "validate-all": 6, "monitor": 7, "stop": 0}[action]
                assert result.returncode == expected, (action, target, repr(value), result.stderr)
                if expected == 6:
                    assert exit_reason(result), result.stderr
            else:
                assert result.returncode in (0, 1, 2, 5, 6, 7), (action, result.stderr)
        assert host_state(hostile) == before, (target, repr(value))

    check()


def test_the_wrong_engine(hostile):
    hostile.start_upto("shared-data")
    for engine in ("mysql", "sqlite"):
        before = host_state(hostile)
        result = hostile.run("db", "start", hostile.params("db", engine=engine))
        assert result.returncode == 6 and "engine=%s" % engine in exit_reason(result)
        assert host_state(hostile) == before


def test_shared_dir_not_owned_by_root_is_refused(hostile):
    hostile.sh("chown nobody /HA-data")
    try:
        before = host_state(hostile)
        result = hostile.run("shared-data", "start")
        assert result.returncode == 2 and "owned by root" in exit_reason(result)
        assert host_state(hostile) == before
    finally:
        hostile.sh("chown root /HA-data")
