"""Manual setup and failover with the xcatha CLI: two lab nodes, no cluster running the group."""
import time

import pytest

from lab import pair, xcat


class Manual:
    def __init__(self, lab):
        self.lab, self.cfg = lab, lab.cfg

    def up(self):
        # the BMCs: `xcatha activate` asks the peer's fence device whether it is off
        self.lab.up(nodes=self.cfg.node_names, bmcs=True)
        text = pair.cluster_config_text(self.cfg)
        for name in self.cfg.node_names:
            self.lab.node(name).exec(["install", "-D", "-m", "0600", "/dev/stdin", pair.NODE_CONFIG],
                                     input=text, check=True)

    def x(self, node, *argv, timeout=600, check=True):
        result = self.lab.node(node).exec(list(argv), timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError("%s on %s: rc %d\n%s\n%s" % (" ".join(argv), node, result.returncode,
                                                             result.stdout[-3000:], result.stderr[-3000:]))
        return result

    def xcatha(self, node, *argv, **kwargs):
        return self.x(node, "xcatha", *argv, **kwargs)

    def install_xcat(self, node, extra=()):
        """The admin installs xCAT (the real one where its source is there, else the stand-in):
        the database and tables on what /etc/xcat etc. point to."""
        if xcat.real():
            return xcat.install_real(self.lab, self.lab.node(node))
        return self.x(node, *xcat.installer_argv(self.cfg, "postgresql", extra))

    def setup_fresh_pair(self):
        """Scenario 1: neither host has xCAT; host2 (standby) first, then host1."""
        for node in reversed(self.cfg.node_names):
            self.xcatha(node, "setup", "begin")
            self.install_xcat(node)
            self.xcatha(node, "setup", "finish")

    def answers(self):
        return pair.services_answer(self.lab)


@pytest.fixture(scope="package")
def manual():
    lab = pair.new_lab()
    yield Manual(lab)
    lab.down()


def wait_until(predicate, timeout=30):
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.3)
