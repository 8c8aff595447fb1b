"""The arbiter ([quorum] arbiter): corosync-qnetd on a third host (the lab's client namespace),
corosync-qdevice on both nodes.  A crash of either node is fenced without a delay and the group
moves; a split (the link between the hosts cut, both alive) leaves exactly the node that ran the
group.  Afterwards the pair is as the other cluster tests expect it (fence delay, no device)."""
import time

import pytest
from faults import cluster

from lab import arbiter, pair
from lab.util import run, wait_for

DELAYED = "Delaying '"   # the fencer's log line when a device waits pcmk_delay_base/priority-fencing-delay


@pytest.fixture(scope="module")
def arbitrated(cluster):
    pair.wait_healthy(cluster)
    arbiter.enable(cluster)
    yield cluster
    pair.wait_healthy(cluster, timeout=300)
    arbiter.disable(cluster)
    pair.wait_healthy(cluster)


def quorum_status(lab, node):
    return lab.node(node).exec(["corosync-quorumtool", "-s"], timeout=30).stdout


def test_the_arbiter_votes_and_no_fence_device_waits(arbitrated):
    lab = arbitrated
    active = pair.active_node(lab)
    for name in lab.cfg.node_names:
        assert arbiter.configured(lab, name) == arbiter.address(lab.cfg)
        # the device casts its vote once it has connected to qnetd, shortly after apply
        wait_for(lambda node=name: "Total votes:      3" in quorum_status(lab, node), timeout=60)
        status = quorum_status(lab, name)
        assert "Qdevice" in status and "Total votes:      3" in status, status
    node = lab.node(active)
    delays = node.exec(["cibadmin", "--query", "--xpath", "//nvpair[contains(@name,'delay')]"], timeout=30)
    assert delays.returncode != 0 and not delays.stdout.strip(), delays.stdout    # none: no such nvpair
    assert node.exec(["crm_verify", "-L"]).returncode == 0
    again = node.exec(["xcatha", "cluster-config", "apply", "-c", pair.NODE_CONFIG], timeout=300)
    assert again.returncode == 0 and "nothing to change" in again.stdout, again.stdout
    # the heuristic: only the node with the VIP passes
    heuristic = ["xcatha", "cluster-config", "holds-vip", "-c", pair.NODE_CONFIG]
    assert node.exec(heuristic).returncode == 0
    assert lab.node(pair.other(lab, active)).exec(heuristic).returncode == 1


def fenced(lab, via, target, since):
    return target in cluster.fenced_since(lab, since, via=via)


def delayed(lab, via, since):
    """The fencer's "Delaying 'off' action targeting ..." lines on node `via` since `since`."""
    return [line for _, line in cluster._log_lines(lab, via, since - 1) if DELAYED in line]


def split(lab, verb):
    for name in lab.cfg.node_names:
        run(["ip", "-n", lab.cfg.node_netns(name), "route", verb, "blackhole",
             lab.cfg.node_ip(pair.other(lab, name)) + "/32"], check=(verb == "add"))


def test_a_split_leaves_exactly_the_node_that_ran_the_group(arbitrated):
    """With the group on host1: without the arbiter host2 (fence_delay on its device) wins every split."""
    lab = arbitrated
    active = "host1"
    if pair.wait_healthy(lab, timeout=300) != active:
        answers, result = pair.planned_move(lab, active)
        assert result.returncode == 0, result.stderr
        pair.wait_healthy(lab, timeout=300)
    passive = pair.other(lab, active)
    since = time.time()
    split(lab, "add")
    try:
        assert wait_for(lambda: fenced(lab, active, passive, since), 120, 1), pair.fence_history(lab, active)
        assert not fenced(lab, active, active, since)
        assert pair.active_node(lab, via=active) == active
        assert "Quorate:          Yes" in quorum_status(lab, active)
    finally:
        split(lab, "del")
    assert all(pair.services_answer(lab).values())
    assert not delayed(lab, active, since)


@pytest.mark.parametrize("round_", [1, 2])
def test_a_crash_of_either_node_is_fenced_without_delay_and_the_group_moves(arbitrated, round_):
    """Two rounds: the group runs on the other node after the first, so both nodes crash once."""
    lab = arbitrated
    active = pair.wait_healthy(lab, timeout=300)
    survivor = pair.other(lab, active)
    since = time.time()
    lab.crash(active)
    assert wait_for(lambda: fenced(lab, survivor, active, since), 120, 1), pair.fence_history(lab, survivor)
    pair.wait_group_started(lab, timeout=180, on=survivor, via=survivor)
    assert not delayed(lab, survivor, since)
    assert wait_for(lambda: all(pair.services_answer(lab).values()), 120, 2), pair.services_answer(lab)
