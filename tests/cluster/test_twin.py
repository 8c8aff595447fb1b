"""The standby is a true twin (issue 16): /etc/hosts and root's ssh keys follow the active MN, and
what would keep the other host from opening the data is refused and reported before it bites."""
import json
import time

from lab import pair
from lab.xcat import wait_until, xcat_sh

STORE = "/HA-data/.xcatha-sync/files"
NEW_NODE, NEW_OCTET = "cn9", 59


def test_hosts_and_ssh_key_follow_the_mn_and_dns_answers_after_failover(healthy):
    cfg = healthy.cfg
    active = pair.active_node(healthy)
    standby = pair.other(healthy, active)
    mn, twin = healthy.node(active), healthy.node(standby)
    assert twin.exec(["systemctl", "is-enabled", "xcatha-sync.path"]).stdout.strip() == "enabled"
    # An admin's quick edits (eight in under three seconds, /etc/hosts as it was after them)
    # leave the watcher watching: under systemd's default start limit of its service the sixth
    # failed both units for good, and nothing below would have reached the shared data.
    burst = mn.exec(["sh", "-c", "for i in 1 2 3 4; do echo '# xcatha-twin-test' >> /etc/hosts; sleep 0.3; "
                     "sed -i '/^# xcatha-twin-test$/d' /etc/hosts; sleep 0.3; done"], timeout=30)
    assert burst.returncode == 0, burst.stderr
    time.sleep(1)
    assert mn.exec(["systemctl", "is-active", "xcatha-sync.path"]).stdout.strip() == "active"
    own_lines_before = [line for line in twin.exec(["cat", "/etc/hosts"]).stdout.splitlines()
                        if line.startswith("127.")]
    address = "%s.%d" % (cfg.net, NEW_OCTET)

    # On the MN, the xCAT way: a new node in xCAT's tables, then makehosts writes /etc/hosts.
    xcat_sh(mn, "mkdef -f -t node %s groups=compute,all ip=%s mgt=ipmi" % (NEW_NODE, address))
    xcat_sh(mn, "makehosts %s" % NEW_NODE)
    assert NEW_NODE in mn.exec(["cat", "/etc/hosts"]).stdout
    # and a new ssh key pair for root (ssh-keygen asks before it overwrites one)
    key = mn.exec(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "xcatha-twin-test",
                   "-f", "/root/.ssh/id_ed25519"], input="y\n", timeout=30)
    assert key.returncode == 0, key.stderr
    public = mn.exec(["cat", "/root/.ssh/id_ed25519.pub"]).stdout
    started = time.monotonic()
    wait_until(lambda: NEW_NODE in mn.exec(["cat", STORE + "/etc/hosts"]).stdout
               and mn.exec(["cat", STORE + "/root/.ssh/id_ed25519.pub"]).stdout == public,
               timeout=15, what="the changed files in the shared data")
    copied_after = time.monotonic() - started
    assert NEW_NODE not in twin.exec(["cat", "/etc/hosts"]).stdout  # nothing reaches the standby by itself
    manifest = json.loads(mn.exec(["cat", "/HA-data/.xcatha-sync/manifest.json"]).stdout)
    assert not [name for name in manifest["files"] if "authorized_keys" in name]

    # fail over: the new MN installs them before makedns -n, so its DNS knows the new node
    answers, result = pair.planned_move(healthy, standby)
    assert result.returncode == 0, result.stderr
    assert all(answers.values()), answers
    assert pair.resolves(healthy, "%s.%s" % (NEW_NODE, cfg.domain), address)
    assert twin.exec(["cat", "/root/.ssh/id_ed25519.pub"]).stdout == public
    assert twin.exec(["cmp", "/root/.ssh/id_ed25519", STORE + "/root/.ssh/id_ed25519"]).returncode == 0
    assert twin.exec(["stat", "-c", "%a", "/root/.ssh/id_ed25519"]).stdout.strip() == "600"
    hosts = twin.exec(["cat", "/etc/hosts"]).stdout
    assert NEW_NODE in hosts
    assert [line for line in hosts.splitlines() if line.startswith("127.")] == own_lines_before
    # what the new MN had before is kept
    assert NEW_NODE not in twin.exec(["cat", "/etc/hosts.xcatha-prev"]).stdout
    print("copied into the shared data %.1f s after the change" % copied_after)


def test_check_reports_seeded_drift_and_a_newer_data_major_is_refused(healthy):
    active = pair.active_node(healthy)
    standby = pair.other(healthy, active)
    mn, twin = healthy.node(active), healthy.node(standby)
    # both hosts recorded their versions (setup, boot, the group's start)
    for name in (active, standby):
        facts = json.loads(mn.exec(["cat", "/HA-data/.xcatha-hosts/%s.json" % name]).stdout)
        assert facts["database"]["majors"] == ["15"] and facts["xcat"].startswith("Version 2.19.0"), facts
    clean = twin.exec(["xcatha", "check"], timeout=180)
    assert "OS release is the same on both hosts" in clean.stdout, clean.stdout
    assert "can open the shared database (postgresql 15)" in clean.stdout, clean.stdout

    # The standby gets another OS release and xCAT build (only in its own mount namespace),
    # records them as it does at every boot, and the MN's check reports both.
    version = xcat_sh(mn, "lsxcatd -v").stdout.split()[1]  # xcatd answers on the MN
    trixie = 's/^VERSION_ID=.*/VERSION_ID="13"/; s/^PRETTY_NAME=.*/PRETTY_NAME="Debian GNU\\/Linux 13 (trixie)"/'
    seeded = [
        ("/etc/os-release", "sed '%s'" % trixie),
        ("/opt/xcat/lib/perl/xCAT/Version.pm", "sed 's/%s/9.9.9/g'" % version.replace(".", "\\.")),
    ]
    try:
        for path, edit in seeded:
            twin.exec(["sh", "-ec", '%s "$(readlink -f "$1")" >"/run/seed-$(basename "$1")"; '
                       'mount --bind "/run/seed-$(basename "$1")" "$1"' % edit, "seed", path], check=True)
        assert twin.exec(["xcatha", "sync", "facts"], timeout=120).returncode == 0
        drift = mn.exec(["xcatha", "check"], timeout=180)
        assert drift.returncode == 1, drift.stdout
        assert "OS release differs: %s has" % active in drift.stdout, drift.stdout
        assert "xCAT differs" in drift.stdout and "9.9.9" in drift.stdout, drift.stdout
    finally:
        for path, _edit in seeded:
            twin.exec(["umount", path])
        twin.exec(["xcatha", "sync", "facts"], timeout=120)

    # The standby sees a data directory of another major (PG_VERSION says 16, in its namespace
    # only): its check says so, and a start there is refused with the reason; the group stays up.
    pg_version = "/HA-data/var/lib/postgresql/15/main/PG_VERSION"
    twin.exec(["sh", "-ec", 'echo 16 >/run/seed-PG_VERSION; mount --bind /run/seed-PG_VERSION "$1"', "seed",
               pg_version], check=True)
    try:
        report = twin.exec(["xcatha", "check"], timeout=180)
        assert report.returncode == 1
        assert "is PostgreSQL 16 (PG_VERSION) but %s has PostgreSQL 15" % standby in report.stdout, report.stdout
        assert "fix: install PostgreSQL 16 on %s" % standby in report.stdout, report.stdout
        twin.exec(["crm_resource", "--move", "--resource", pair.GROUP, "--node", standby], check=True)
        reason = wait_until(lambda: _failed_start(healthy, standby), timeout=180, what="the refused db start")
        # Pacemaker keeps the first 128 characters of an exit reason: the fix comes first
        assert reason[0] == "5" and reason[1].startswith(
            "install PostgreSQL 16 on %s: the database in /var/lib/postgresql/15/main is PostgreSQL 16" % standby), \
            reason
        mn.exec(["crm_resource", "--clear", "--resource", pair.GROUP], check=True)
        assert pair.wait_group_started(healthy, on=active, timeout=180) == active
        # started: named and dhcpd may still restart under makedns -n / makedhcp -n for a moment
        wait_until(lambda: all(pair.services_answer(healthy).values()), timeout=120, what="every service")
    finally:
        twin.exec(["umount", pg_version])
        mn.exec(["crm_resource", "--clear", "--resource", pair.GROUP])
        mn.exec(["crm_resource", "--cleanup", "--resource", pair.GROUP], timeout=60)


def _failed_start(lab, node):
    """(rc, exit reason) of a failed start of db on node, from crm_mon, or None."""
    root = pair.crm_mon(lab)
    for failure in root.iter("failure") if root is not None else ():
        if failure.get("op_key", "").startswith("db_start") and failure.get("node") == node:
            return failure.get("exitcode"), failure.get("exitreason", "")
    return None
