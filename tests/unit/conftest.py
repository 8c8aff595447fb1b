"""The fast tier's scripted runner (pcs's tier0 model): a test states the exact commands it
expects, in order, with the outputs recorded from the lab; any other command fails the test."""
from pathlib import Path

import pytest

from xcatha import run

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture(name):
    return (FIXTURES / name).read_text()


class Call:
    """One expected command: its exact argv, and what it answers (or raises)."""

    def __init__(self, argv, rc=0, stdout="", stderr="", raises=None, env=None, output=()):
        self.argv, self.rc, self.stdout, self.stderr = [str(a) for a in argv], rc, stdout, stderr
        self.raises, self.env, self.output = raises, env or {}, output


class ScriptedRunner:
    def __init__(self):
        self.expected, self.seen, self.errors = [], [], []

    def expect(self, *calls):
        self.expected.extend(calls)
        return self

    def _next(self, argv, env):
        self.seen.append(argv)
        if not self.expected:
            self.errors.append("unexpected command %r" % (argv,))
            raise AssertionError(self.errors[-1])
        call = self.expected.pop(0)
        if argv != call.argv:
            self.errors.append("expected %r, got %r" % (call.argv, argv))
            raise AssertionError(self.errors[-1])
        for key, value in call.env.items():
            if env.get(key) != value:
                self.errors.append("%r: env %s=%r, expected %r" % (argv, key, env.get(key), value))
                raise AssertionError(self.errors[-1])
        if call.raises is not None:
            raise call.raises
        return call

    def run(self, argv, *, timeout, env, input=None, cwd=None):
        call = self._next(argv, env)
        return call.rc, call.stdout, call.stderr

    def spawn(self, argv, *, env):
        self._next(argv, env)
        return 4242

    def stream(self, argv, on_output, *, timeout, env):
        call = self._next(argv, env)
        for chunk in call.output:
            on_output(chunk)
        return call.rc

    def verify(self):
        assert not self.errors, self.errors
        assert not self.expected, "expected commands never run: %r" % [c.argv for c in self.expected]


@pytest.fixture
def runner(monkeypatch):
    scripted = ScriptedRunner()
    monkeypatch.setattr(run, "runner", scripted)
    yield scripted
    scripted.verify()


@pytest.fixture(autouse=True)
def _no_secrets_between_tests():
    from xcatha.log import log
    before = set(log.secrets)
    yield
    log.secrets.clear()
    log.secrets.update(before)
    log._pattern = None


EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "cluster-config" / "xcatha.conf"


def config_file(directory, text=None, mode=0o600):
    """The example cluster.conf (or text) installed the way an admin must: mode 0600."""
    path = Path(directory) / "cluster.conf"
    path.write_text(EXAMPLE_CONFIG.read_text() if text is None else text)
    path.chmod(mode)
    return str(path)


@pytest.fixture(scope="session")
def example_config(tmp_path_factory):
    return config_file(tmp_path_factory.mktemp("config"))


LAB_NET = "192.168.73"  # the network the fixtures were recorded on (the example config says 192.168.77)


def pair_config(tmp_path, net=LAB_NET, **replace):
    """The example cluster.conf on the fixtures' network, its shared dir and its backup dir fresh
    directories here."""
    from xcatha import cluster_config
    shared = Path(tmp_path) / "HA-data"
    shared.mkdir(mode=0o755, exist_ok=True)
    text = EXAMPLE_CONFIG.read_text().replace("192.168.77.", net + ".")
    text = text.replace("dir = /HA-data ", "dir = %s " % shared)
    text = text.replace("dir = /var/lib/xcatha/backup ", "dir = %s " % (Path(tmp_path) / "backup"))
    text = text.replace("require_mount = true", "require_mount = false")
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    return cluster_config.load(config_file(tmp_path, text))


def agent(name, action, rc=0, reason=None, **env):
    """An expected run of an ocf:xcat agent's action, answering rc (and an exit reason)."""
    return Call(["/usr/lib/ocf/resource.d/xcat/" + name, action], rc=rc,
                stderr="ocf-exit-reason:%s\n" % reason if reason else "",
                env={"__OCF_ACTION": action, **{"OCF_RESKEY_" + key: value for key, value in env.items()}})


NO_CLUSTER = Call(["cibadmin", "--query", "--scope", "resources"], rc=102,
                  stderr="Could not connect to the CIB: Transport endpoint is not connected\n")


def ip_addr(node="host1"):
    return Call(["ip", "-j", "addr", "show"], stdout=fixture("ip-j-addr-%s.json" % node))
