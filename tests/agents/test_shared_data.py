"""ocf:xcat:shared-data on a booted node with /HA-data bind-mounted from the host."""
import pytest

from .support import exit_reason, host_state, no_traceback

LINKS = ("/install", "/etc/xcat", "/root/.xcat", "/tftpboot", "/var/lib/postgresql")


def tree_digest(pg, path):
    """The shared data's tree, without what the agent keeps there about the pair itself: the files
    that follow the MN (.xcatha-sync), each host's versions (.xcatha-hosts) and the depth-10
    probe's status files (.xcatha-status-HOST, written by every start and deep monitor)."""
    return pg.sh("cd %s && find . \\( -path ./.xcatha-sync -o -path ./.xcatha-hosts -o -name '.xcatha-status-*' \\) "
                 "-prune -o "
                 "-printf '%%p %%y %%s %%m\\n' | sort | md5sum" % path).stdout


def test_ocf_tester(pg):
    result = pg.ocf_tester("shared-data")
    assert result.returncode == 0, result.stdout + result.stderr


def test_start_links_stop_unlinks_and_never_touches_shared_data(pg):
    shared_before = tree_digest(pg, "/HA-data")
    assert pg.run("shared-data", "start").returncode == 0
    for path in LINKS:
        assert pg.sh("readlink %s" % path).stdout.strip() == "/HA-data" + path
    assert pg.run("shared-data", "monitor").returncode == 0
    assert pg.run("shared-data", "monitor", depth=10, interval_ms=60000).returncode == 0
    assert pg.run("shared-data", "start").returncode == 0  # idempotent
    assert pg.run("shared-data", "stop").returncode == 0
    assert pg.run("shared-data", "stop").returncode == 0
    for path in LINKS:
        assert pg.sh("test -L %s" % path).returncode != 0
    assert pg.run("shared-data", "monitor").returncode == 7
    assert tree_digest(pg, "/HA-data") == shared_before
    # the first start gave the shared data its copy of the files that follow the MN
    assert pg.sh("cmp /etc/hosts /HA-data/.xcatha-sync/files/etc/hosts").returncode == 0


def test_real_directory_is_moved_aside_and_restored_intact(pg):
    pg.sh("mkdir -p /tftpboot/pxelinux.cfg && echo local-data > /tftpboot/pxelinux.cfg/default")
    before = tree_digest(pg, "/tftpboot")
    try:
        assert pg.run("shared-data", "start").returncode == 0
        assert pg.sh("readlink /tftpboot").stdout.strip() == "/HA-data/tftpboot"
        assert pg.sh("cat /tftpboot.xcatha-local/pxelinux.cfg/default").stdout == "local-data\n"
        assert pg.run("shared-data", "stop").returncode == 0
        assert pg.sh("test -d /tftpboot -a ! -L /tftpboot").returncode == 0
        assert tree_digest(pg, "/tftpboot") == before
        assert pg.sh("test -e /tftpboot.xcatha-local").returncode != 0
    finally:
        pg.sh("rm -rf /tftpboot")


def test_partially_linked_is_a_failure(pg):
    assert pg.run("shared-data", "start").returncode == 0
    pg.sh("rm /tftpboot")
    result = pg.run("shared-data", "monitor", interval_ms=10000)
    assert result.returncode == 1 and "partially linked" in exit_reason(result)
    assert pg.run("shared-data", "start").returncode == 0  # repairs
    assert pg.run("shared-data", "monitor").returncode == 0


def test_probe_without_the_shared_storage_answers_not_running(pg):
    params = pg.params("shared-data", shared_dir="/HA-elsewhere")
    for interval in ("0", None):
        env = {} if interval is None else {"OCF_RESKEY_CRM_meta_interval": interval}
        result = pg.run("shared-data", "monitor", params, env=env)
        assert result.returncode == 7, result.stderr
    result = pg.run("shared-data", "start", params)
    assert result.returncode == 1 and "not present" in exit_reason(result)
    assert pg.run("shared-data", "stop", params).returncode == 0


def test_links_left_from_before_a_reboot_are_not_running(pg):
    assert pg.run("shared-data", "start").returncode == 0
    pg.sh("rm -f /run/resource-agents/xcatha-shared-data-shared-data.active")  # what a reboot does to /run
    assert pg.run("shared-data", "monitor", env={"OCF_RESKEY_CRM_meta_interval": "0"}).returncode == 7
    assert pg.run("shared-data", "stop").returncode == 0
    assert pg.sh("test -L /install").returncode != 0


def test_a_partial_set_of_leftover_links_is_not_running_on_a_probe(pg):
    # a crash in the middle of a stop leaves some links and no marker: 1 here would make
    # Pacemaker see the group active on two nodes and restart it on the healthy MN
    assert pg.run("shared-data", "start").returncode == 0
    pg.sh("rm -f /run/resource-agents/xcatha-shared-data-shared-data.active /tftpboot")
    assert pg.run("shared-data", "monitor", env={"OCF_RESKEY_CRM_meta_interval": "0"}).returncode == 7
    assert pg.run("shared-data", "stop").returncode == 0
    assert pg.sh("test -L /install").returncode != 0


def test_the_lease_names_the_host_that_linked_and_goes_with_a_clean_stop(pg):
    assert pg.run("shared-data", "start").returncode == 0
    assert pg.sh("cat /HA-data/.xcatha-active").stdout.strip() == pg.sh("cat /etc/hostname").stdout.strip()
    assert pg.run("shared-data", "stop").returncode == 0
    assert pg.sh("test -e /HA-data/.xcatha-active").returncode != 0


def test_a_recurring_monitor_of_an_unsafe_shared_dir_fails_soft(pg):
    assert pg.run("shared-data", "start").returncode == 0
    pg.sh("chmod g+w /HA-data")
    try:
        result = pg.run("shared-data", "monitor", depth=10, interval_ms=120000)
        assert result.returncode == 1 and "writable by group or others" in exit_reason(result)
    finally:
        pg.sh("chmod 0755 /HA-data")
        pg.run("shared-data", "stop")


def test_unsafe_shared_dir_is_refused(pg):
    pg.sh("chmod 0777 /HA-data")
    try:
        result = pg.run("shared-data", "start")
        assert result.returncode == 2 and "writable by group or others" in exit_reason(result)
        assert pg.sh("test -L /install").returncode != 0
    finally:
        pg.sh("chmod 0755 /HA-data")


@pytest.mark.parametrize("overrides", [
    {"dirs": "install tftpboot"}, {"dirs": "/install/../etc"}, {"dirs": "/"}, {"dirs": "/HA-data/x"},
    {"dirs": "/etc"}, {"dirs": "/install /install"}, {"shared_dir": "relative"}, {"backup_suffix": "/x"},
    {"engine": "oracle"}, {"require_mount": "perhaps"}])
def test_bad_parameters_are_configuration_errors_and_change_nothing(pg, overrides):
    before = host_state(pg)
    params = pg.params("shared-data", **overrides)
    result = pg.run("shared-data", "start", params)
    assert result.returncode == 6 and exit_reason(result)
    no_traceback(result)
    assert host_state(pg) == before
    assert pg.run("shared-data", "stop", params).returncode == 0
    assert pg.run("shared-data", "monitor", params).returncode == 7
