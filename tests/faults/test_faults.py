"""Short seeded fault runs on the fault lab (its own prefix and network, next to the
cluster tests' lab), one per database engine: every fault recovered, no invariant breached.

Each run names its kinds, so that the seed gives the same plan when kinds are added to the
catalogue; its order is in the comment.  crash-passive is left to `make faults` on PostgreSQL:
flapping-peer crashes the passive node twice and checks more.

PostgreSQL's run is in the cluster tests' lab instead: its pair is theirs (same code, settings
and engine), so it boots the snapshot their build kept rather than building it again (about
three minutes).  Nothing boots the other engines' pairs again: they keep no snapshot (a
shutdown and a boot, about 50 s each)."""
import pytest

from faults.runner import fault_run

RUNS = [  # engine, seed, kinds
    # link-replaced (/install), kill-postgres, kill-dhcpd, fault-during-failover (its db killed mid-start),
    # vip-removed, split, freeze-active (13.1 s), kill-named, flapping-peer (2 crashes, the second as soon
    # as it rejoined), kill-xcatd
    ("postgresql", 60, ("kill-postgres", "split", "kill-named", "vip-removed", "kill-xcatd", "kill-dhcpd",
                        "link-replaced", "freeze-active", "fault-during-failover", "flapping-peer")),
    # kill-mariadb, shared-full, crash-active: MariaDB (set up by xCAT's mysqlsetup) restarts in place;
    # on the full shared filesystem it aborts and cannot start until space is freed (db's start waits
    # for it); then it fails over
    ("mysql", 18, ("crash-active", "kill-mariadb", "shared-full")),
    # kill-xcatd, crash-active: xCAT's SQLite files fail over with the group, one xcatd at a time
    ("sqlite", 18, ("crash-active", "kill-xcatd")),
]


@pytest.mark.parametrize("engine,seed,kinds", RUNS, ids=[run[0] for run in RUNS])
def test_seeded_faults_recover_without_breaching_an_invariant(tmp_path, engine, seed, kinds):
    count = len(kinds)
    summary, report = fault_run(count, seed, list(kinds), report=tmp_path / ("%s-%d.md" % (engine, seed)),
                                engine=engine, default_lab=engine == "postgresql",
                                snapshot=engine == "postgresql")
    assert summary["violations"] == [], report.read_text()
    assert summary["faults"] == count, report.read_text()
    assert summary["recovered"] == count, report.read_text()
