"""A short seeded fault run on the fault lab (its own prefix and network, next to the
cluster tests' lab): every fault recovered, no invariant breached."""
from faults.runner import fault_run

SEED = 15      # kill-postgres, split, kill-named, vip-removed, crash-passive, kill-xcatd, kill-dhcpd, link-replaced
COUNT = 8


def test_seeded_faults_recover_without_breaching_an_invariant(tmp_path):
    summary, report = fault_run(COUNT, SEED, report=tmp_path / ("%d.md" % SEED))
    assert summary["violations"] == [], report.read_text()
    assert summary["faults"] == COUNT, report.read_text()
    assert summary["recovered"] == COUNT, report.read_text()
