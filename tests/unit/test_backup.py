"""xcatha backup: dumpxCATdb on the host where the group runs only, a retention count, and what
xcatha check says about it.  Outputs recorded in the lab (fixtures/README.md)."""
import os
import time

import pytest

from xcatha import backup, shared_data, xcat

from .conftest import Call, pair_config

NET = "192.168.72"
NOW = time.mktime((2026, 11, 29, 18, 35, 4, 0, 0, -1))
STAMP = "20261129-183504"
DUMP = "/opt/xcat/sbin/dumpxCATdb"
LOCATE = ["crm_resource", "--locate", "--resource", "xcatmn"]
# what dumpxCATdb printed in the lab (stdout; stderr was empty), rc 0
DUMPED = " Creating %s for database dump\nBackup Complete.\n"


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setattr(xcat, "path_of", lambda name: "/opt/xcat/sbin/" + name)
    monkeypatch.setattr(shared_data, "STATE_DIR", str(tmp_path / "run"))
    return pair_config(tmp_path, net=NET, **{"keep = 14 ": "keep = 2 "})


def lines():
    said = []
    return said, lambda text="", progress=False: said.append(text)


def dumped_into(directory, tables=("site", "nodelist", "policy")):
    """What dumpxCATdb leaves behind (the scripted runner runs nothing)."""
    os.makedirs(directory)
    for table in tables:
        with open(os.path.join(directory, table + ".csv"), "w", encoding="utf-8") as stream:
            stream.write("#key,value\n")


def dumps_into(runner, partial):
    """The dump's files appear when dumpxCATdb runs."""
    real_run = runner.run

    def run_and_dump(argv, **kwargs):
        if argv[0] == DUMP:
            dumped_into(partial)
        return real_run(argv, **kwargs)
    runner.run = run_and_dump


def test_on_the_active_host_dumps_renames_prunes_and_records(runner, config):
    directory = config.get("backup", "dir")
    for old in ("20261126-023000", "20261127-023000", "20261128-023000"):
        dumped_into(os.path.join(directory, "xcatdb-" + old))
    dumped_into(os.path.join(directory, "xcatdb-20261128-023001.partial"))  # an interrupted run: removed
    os.makedirs(os.path.join(directory, "keep-me"))  # not ours: never touched
    partial = os.path.join(directory, "xcatdb-%s.partial" % STAMP)
    runner.expect(Call(LOCATE, stdout="resource xcatmn is running on: host1\n"),
                  Call([DUMP, "-p", partial], stdout=DUMPED % partial,
                       env={"XCATROOT": "/opt/xcat", "HOME": "/root"}),
                  Call(["crm_attribute", "--node", "host1", "--name", "xcatha-backup-last", "--update", str(int(NOW)),
                        "--lifetime", "forever"]))
    dumps_into(runner, partial)
    said, out = lines()
    final = backup.backup(config, config.nodes[0], out, now=NOW)
    assert final == os.path.join(directory, "xcatdb-" + STAMP)
    assert sorted(os.listdir(directory)) == [".lock", "keep-me", "xcatdb-20261128-023000", "xcatdb-" + STAMP]
    assert said == ["backup: %s (3 tables, dumpxCATdb)" % final,
                    "removed 2 older backup(s), keeping the 2 newest: %s %s" % (
                        os.path.join(directory, "xcatdb-20261126-023000"),
                        os.path.join(directory, "xcatdb-20261127-023000"))]
    assert backup.newest(config) == NOW


def test_on_the_passive_host_does_nothing(runner, config):
    runner.expect(Call(LOCATE, stdout="resource xcatmn is running on: host2\n"))
    said, out = lines()
    assert backup.backup(config, config.nodes[0], out, now=NOW) is None
    assert said == ["the group xcatmn runs on host2: no backup here"]
    assert not os.path.exists(config.get("backup", "dir"))


def test_without_a_cluster_only_the_host_with_the_shared_data_linked_backs_up(runner, config):
    runner.expect(Call(LOCATE, rc=102, stderr="crm_resource: Error signing on to the CIB service: Transport "
                       "endpoint is not connected\n"))
    said, out = lines()
    assert backup.backup(config, config.nodes[0], out, now=NOW) is None
    assert said == ["host1 is not the active MN (no cluster, shared data not linked here): no backup here"]


def test_a_table_dumpxcatdb_could_not_dump_fails_the_backup_and_leaves_no_partial_dump(runner, config):
    directory = config.get("backup", "dir")
    partial = os.path.join(directory, "xcatdb-%s.partial" % STAMP)
    # dumpxCATdb says so and still exits 0
    runner.expect(Call(LOCATE, stdout="resource xcatmn is running on: host1\n"),
                  Call([DUMP, "-p", partial], stdout=" Creating %s for database dump\nError running tabdump -f "
                       "%s/site.csv site, \nBackup Complete.\n" % (partial, partial)))
    dumps_into(runner, partial)
    with pytest.raises(backup.BackupError) as error:
        backup.backup(config, config.nodes[0], lines()[1], now=NOW)
    assert "Error running tabdump -f %s/site.csv site" % partial in str(error.value)
    assert os.listdir(directory) == [".lock"]


def test_the_timer_drop_in_takes_the_time_from_the_config(config):
    assert backup.timer_drop_in(config).endswith("[Timer]\nOnCalendar=\nOnCalendar=*-*-* 02:30:00\n")
    assert backup.calendar("Mon *-*-* 03:00") == "Mon *-*-* 03:00"


def test_newest_reads_the_peers_record_from_the_cib(config):
    from .conftest import fixture
    assert backup.newest(config, fixture("cib-nodes-after-crash.xml")) == 1795977363.0
