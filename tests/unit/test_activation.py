"""xcatha activate / deactivate with the runner scripted: the exact commands, in order, and nothing else."""
import pytest

from xcatha import activation, cluster_config, shared_data, vip

from .conftest import NO_CLUSTER, Call, agent, fixture, ip_addr, pair_config

MEMBERS = cluster_config.MEMBERS


class Arp:
    """The ARP probes this host sends (a raw socket, not a command): who answers, and how it probed."""

    def __init__(self):
        self.conflict, self.probes = None, []

    def probe(self, nic, address, wait=0.3, probes=2):
        self.probes.append((nic, str(address), wait, probes))
        return self.conflict


@pytest.fixture
def arp(monkeypatch):
    fake = Arp()
    monkeypatch.setattr(vip, "arp_probe", fake.probe)
    return fake


@pytest.fixture
def host1(tmp_path, monkeypatch, arp):
    """This host is host1 of the pair."""
    monkeypatch.setattr(vip, "static_hostname", lambda: "host1")
    return pair_config(tmp_path)


def fence_call(action, stdout, rc=0):
    return Call(["fence_ipmilan"], rc=rc, stdout=stdout)


def starts(*names, monitor_rc=7):
    calls = []
    for name in names:
        calls += [agent(name, "monitor", rc=monitor_rc), agent(name, "start")]
    return calls


def lease(config, holder):
    with open("%s/%s" % (config.get("shared", "dir"), shared_data.LEASE_NAME), "w") as stream:
        stream.write(holder + "\n")


def test_takeover_is_refused_while_the_peer_holds_the_lease_and_is_powered_on(runner, host1):
    lease(host1, "host2")  # host2 linked the shared data and never released it: hung, or cut off
    runner.expect(NO_CLUSTER, agent("vip", "monitor", rc=7), ip_addr(), ip_addr(),
                  fence_call("status", fixture("fence_ipmilan-status-on.txt")))
    lines = []
    with pytest.raises(activation.ActivationError) as error:
        activation.activate(host1, lambda text, **kw: lines.append(text))
    assert "host2 may still be the MN" in str(error.value) and "says it is on" in str(error.value)
    assert "--fence-peer" in str(error.value)
    # nothing was started: the script above has no start in it, and the runner fails on any other call


def test_the_fence_password_goes_to_the_agent_on_stdin_never_argv(runner, host1, monkeypatch):
    lease(host1, "host2")
    seen = {}

    def run(argv, *, timeout, env, input=None, cwd=None):
        seen["argv"], seen["input"] = argv, input
        return 0, fixture("fence_ipmilan-status-on.txt"), ""
    runner.expect(NO_CLUSTER, agent("vip", "monitor", rc=7), ip_addr(), ip_addr())
    original = runner.run
    monkeypatch.setattr(runner, "run", lambda argv, **kw: run(argv, **kw) if argv == ["fence_ipmilan"]
                        else original(argv, **kw))
    with pytest.raises(activation.ActivationError):
        activation.activate(host1, lambda text, **kw: None)
    assert seen["argv"] == ["fence_ipmilan"]
    assert "password=labpass\n" in seen["input"] and "action=status\n" in seen["input"]
    assert "ip=192.168.73.22\n" in seen["input"]  # host2's BMC, not host1's


def test_fence_peer_powers_the_peer_off_then_takes_over(runner, host1):
    lease(host1, "host2")
    runner.expect(NO_CLUSTER, agent("vip", "monitor", rc=7), ip_addr(), ip_addr(),
                  fence_call("off", fixture("fence_ipmilan-off.txt")),
                  fence_call("status", fixture("fence_ipmilan-status-off.txt"), rc=2),
                  *starts(*MEMBERS))
    lines = []
    activation.activate(host1, lambda text, **kw: lines.append(text), fence_peer=True)
    assert "  host2 powered off through its fence device" in lines
    assert lines[-1].split() == [MEMBERS[-1], "started"]


def test_a_peer_that_released_the_shared_data_needs_no_fencing(runner, host1, arp):
    # a planned switchover: `xcatha deactivate` on host2 removed its lease; nobody answers for the VIP
    runner.expect(NO_CLUSTER, agent("vip", "monitor", rc=7), ip_addr(), ip_addr(), *starts(*MEMBERS))
    activation.activate(host1, lambda text, **kw: None)
    # the probe follows RFC 5227: 3 probes, 1-2 s apart, not a 300 ms glance
    assert arp.probes == [("eth0", "192.168.73.10", 5.0, 3)]


def test_takeover_is_refused_while_another_host_answers_for_the_vip(runner, host1, arp):
    arp.conflict = "52:54:00:aa:bb:cc"
    runner.expect(NO_CLUSTER, agent("vip", "monitor", rc=7), ip_addr(), ip_addr(),
                  fence_call("status", fixture("fence_ipmilan-status-on.txt")))
    with pytest.raises(activation.ActivationError) as error:
        activation.activate(host1, lambda text, **kw: None)
    assert "host2 may still be the MN (another host (MAC 52:54:00:aa:bb:cc) answers for the VIP" in str(error.value)


def test_a_failed_start_stops_the_member_that_failed_too(runner, host1):
    # db's start fails after its server came up: it must be stopped, not only the members before it
    runner.expect(NO_CLUSTER, agent("vip", "monitor", rc=7), ip_addr(), ip_addr(), *starts("vip", "shared-data"),
                  agent("db", "monitor", rc=7),
                  agent("db", "start", rc=1, reason="postgresql started but does not accept xcatadm@192.168.73.10"),
                  agent("db", "stop"), agent("shared-data", "stop"), agent("vip", "stop"))
    lines = []
    with pytest.raises(activation.ActivationError) as error:
        activation.activate(host1, lambda text, **kw: lines.append(text))
    assert "activation stopped at db" in str(error.value)
    assert [line.split()[0] for line in lines if "stopped again" in line] == ["db", "shared-data", "vip"]


def test_a_rollback_that_cannot_stop_keeps_the_vip_and_links_and_says_so(runner, host1):
    runner.expect(NO_CLUSTER, agent("vip", "monitor", rc=7), ip_addr(), ip_addr(), *starts("vip", "shared-data"),
                  agent("db", "monitor", rc=7), agent("db", "start", rc=1, reason="timed out"),
                  agent("db", "stop", rc=1, reason="postgresql@15-main.service still running after stop"))
    with pytest.raises(activation.ActivationError) as error:
        activation.activate(host1, lambda text, **kw: None)
    assert "still running: db shared-data vip" in str(error.value)


def test_deactivate_stops_at_the_first_member_that_fails_to_stop(runner, host1):
    runner.expect(NO_CLUSTER, agent("http", "stop"), agent("conserver", "stop"), agent("dhcpd", "stop"),
                  agent("named", "stop"),
                  agent("xcatd", "stop"), agent("db", "stop", rc=1, reason="postgresql still has processes"))
    lines = []
    with pytest.raises(activation.ActivationError) as error:
        activation.deactivate(host1, lambda text, **kw: lines.append(text))
    message = str(error.value)
    assert "deactivation stopped at db" in message and "still running here: vip shared-data db" in message
    # shared-data and vip were never stopped: PostgreSQL keeps its data directory and address


def test_activate_is_refused_where_pacemaker_manages_the_group(runner, host1):
    runner.expect(Call(["cibadmin", "--query", "--scope", "resources"], stdout=fixture("cib.xml")))
    with pytest.raises(activation.ActivationError) as error:
        activation.activate(host1, lambda text, **kw: None)
    assert "pcs resource move xcatmn" in str(error.value)
