"""A short seeded fault run on the fault lab (its own prefix and network, next to the
cluster tests' lab): every fault recovered, no invariant breached.

One round of the kinds below, in the order (and with the parameters) the seed draws:
naming them keeps this run the same when the catalogue grows."""
from faults.runner import fault_run

KINDS = ["kill-postgres", "split", "kill-named", "vip-removed", "crash-passive", "kill-xcatd", "kill-dhcpd",
         "link-replaced", "freeze-active", "fault-during-failover", "flapping-peer"]
# kill-dhcpd, split, fault-during-failover (its db killed mid-start), kill-postgres, kill-named,
# flapping-peer (2 crashes, the second as soon as it rejoined), freeze-active (16.9 s), vip-removed,
# kill-xcatd, crash-passive, link-replaced (/install)
SEED = 50


def test_seeded_faults_recover_without_breaching_an_invariant(tmp_path):
    summary, report = fault_run(len(KINDS), SEED, KINDS, report=tmp_path / ("%d.md" % SEED))
    assert summary["violations"] == [], report.read_text()
    assert summary["faults"] == len(KINDS), report.read_text()
    assert summary["recovered"] == len(KINDS), report.read_text()
