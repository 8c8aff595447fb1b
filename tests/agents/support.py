"""Support for the agent tests: one lab node booting real systemd, real daemons, the real xCAT
(the test-only stand-in only where xCAT's source is missing).

The node (host1) is set up once per database engine the way an admin does it —
`xcatha setup begin`, xCAT installed (pgsqlsetup, mysqlsetup or SQLite), `xcatha
setup finish` — so each test starts from a clean standby: every resource stopped.
"""
import re
import time

from lab import LabConfig, pair, xcat

AGENT_DIR = xcat.AGENT_DIR


class AgentLab:
    def __init__(self):
        self.lab = pair.prepare(LabConfig())
        self.cfg = self.lab.cfg
        self.engine = None

    @property
    def node(self):
        return self.lab.node("host1")

    def provision(self, engine):
        if self.engine == engine:
            return
        self.engine = None  # until this engine is set up: a failure must not leave a lab taken for one
        self.lab.up(nodes=("host1",))
        if xcat.real():
            node = self.node
            text = pair.cluster_config_text(self.cfg, engine)
            node.exec(["install", "-D", "-m", "0600", "/dev/stdin", pair.NODE_CONFIG], input=text, check=True)
            xcat.check(node.exec(["xcatha", "setup", "begin"], timeout=600), "setup begin")
            xcat.install_real(self.lab, node, engine)
            xcat.check(node.exec(["xcatha", "setup", "finish"], timeout=600), "setup finish")
        else:
            xcat.seed_shared_data(self.lab, engine)
            xcat.install_xcat(self.lab, "host1", engine)
        self.engine = engine

    def params(self, name, **overrides):
        values = dict(xcat.group_params(self.cfg, self.engine or "postgresql")[name])
        values.update({key: str(value) for key, value in overrides.items()})
        return values

    def run(self, name, action, params=None, **kwargs):
        return xcat.agent(self.node, name, action, self.params(name) if params is None else params, **kwargs)

    def start_upto(self, last):
        xcat.activate(self.node, xcat.group_params(self.cfg, self.engine), upto=last)

    def stop_all(self):
        for name in reversed(xcat.group_params(self.cfg, self.engine)):
            result = self.run(name, "stop")
            assert result.returncode == 0, "%s stop: %s" % (name, result.stderr)

    def sh(self, command, timeout=60):
        return self.node.exec(["sh", "-c", command], timeout=timeout)

    def ocf_tester(self, name, params=None):
        options = []
        for key, value in (self.params(name) if params is None else params).items():
            options += ["-o", "%s=%s" % (key, value)]
        return self.node.exec(["ocf-tester", "-n", name, *options, "%s/%s" % (AGENT_DIR, name)], timeout=600)

    def addresses(self):
        return set(re.findall(r"inet6? (\S+)", self.node.exec(["ip", "-o", "addr", "show"]).stdout))


def exit_reason(result):
    reasons = [line for line in result.stderr.splitlines() if line.startswith("ocf-exit-reason:")]
    assert len(reasons) <= 1, result.stderr
    return reasons[0][len("ocf-exit-reason:"):] if reasons else ""


def no_traceback(result):
    assert "Traceback" not in result.stderr, result.stderr


def wait_until(predicate, timeout=30, interval=0.2):
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(interval)


def cfgloc(lab):
    """(engine prefix, host, user, password) from the shared cfgloc, read on the host side."""
    text = (lab.cfg.shared_data / "etc/xcat/cfgloc").read_text().strip()
    dsn, user, password = text.split("|", 2)
    host = dict(item.split("=", 1) for item in dsn.split(":", 1)[1].split(";"))["host"]
    return dsn.split(":", 1)[0], host, user, password


def sql(lab, statement):
    """Run SQL on xcatdb with cfgloc's credentials at cfgloc's host (the VIP), from the node."""
    prefix, host, user, password = cfgloc(lab)
    if prefix == "Pg":
        argv = ["psql", "-X", "-w", "-At", "-h", host, "-U", user, "-d", "xcatdb", "-c", statement]
        env = {"PGPASSWORD": password}
    else:
        argv = ["mariadb", "-h", host, "-u", user, "-D", "xcatdb", "-N", "-B", "-e", statement]
        env = {"MYSQL_PWD": password}
    return lab.node.exec(argv, env=env, timeout=30)


MANAGED_DIRS = ("/install", "/etc/xcat", "/root/.xcat", "/tftpboot", "/var/lib/postgresql", "/var/lib/mysql")


def host_state(lab):
    """What an agent could change on the node: addresses, hostname, the managed directories
    (and any moved-aside copies), running units, the shared data's top level.  Not the whole
    of /var/lib: the node's lower layer is the live host, where the lab itself writes.  Not the
    user managers systemd starts and ends for logins (ocf-tester runs agents as nobody)."""
    dirs = " ".join(MANAGED_DIRS)
    return lab.sh("ip -o addr; hostname; for d in %s; do stat -c '%%n %%F %%N %%a' $d $d.xcatha-local "
                  "2>/dev/null; done; systemctl list-units --state=active --no-legend --plain | awk '{print $1}' "
                  "| grep -Ev '^(user@|user-runtime-dir@|session-)' | sort; ls -la /HA-data /run/resource-agents "
                  "2>/dev/null" % dirs).stdout
