"""Short seeded fault runs on the fault lab (its own prefix and network, next to the
cluster tests' lab), one per database engine: every fault recovered, no invariant breached.

Each run names its kinds, so that the seed gives the same plan when kinds are added to the
catalogue; its order is in the comment."""
import pytest

from faults.runner import fault_run

RUNS = [  # engine, seed, kinds
    # link-replaced, kill-named, kill-xcatd, split, kill-dhcpd, crash-passive, kill-postgres, vip-removed
    ("postgresql", 15, ("kill-postgres", "split", "kill-named", "vip-removed", "crash-passive", "kill-xcatd",
                        "kill-dhcpd", "link-replaced")),
    # kill-mariadb, crash-active: MariaDB (set up by xCAT's mysqlsetup) restarts in place, then fails over
    ("mysql", 18, ("crash-active", "kill-mariadb")),
    # kill-xcatd, crash-active: xCAT's SQLite files fail over with the group, one xcatd at a time
    ("sqlite", 18, ("crash-active", "kill-xcatd")),
]


@pytest.mark.parametrize("engine,seed,kinds", RUNS, ids=[run[0] for run in RUNS])
def test_seeded_faults_recover_without_breaching_an_invariant(tmp_path, engine, seed, kinds):
    count = len(kinds)
    summary, report = fault_run(count, seed, list(kinds), report=tmp_path / ("%s-%d.md" % (engine, seed)),
                                engine=engine)
    assert summary["violations"] == [], report.read_text()
    assert summary["faults"] == count, report.read_text()
    assert summary["recovered"] == count, report.read_text()
