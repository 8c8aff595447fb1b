"""ocf:xcat:xcatd, named, dhcpd, conserver and http on real daemons, driven by the real xCAT."""
import time

import pytest

from lab import xcat

from .support import exit_reason, wait_until

UNITS = {"xcatd": "xcatd", "named": "named", "dhcpd": "isc-dhcp-server", "conserver": "conserver-server"}
# pgrep patterns; "[/]" keeps pgrep -f from matching the shell that runs it
# xCAT's xcatd renames its processes ("xcatd: SSL listener"); the stand-in's run as /opt/xcat/sbin/xcatd
XCATD = "-f '[x]catd: |[/]opt/xcat/sbin/xcatd'"
PROCESSES = {"xcatd": XCATD, "named": "-x named", "dhcpd": "-x dhcpd", "conserver": "-x conserver"}
BEFORE = {"xcatd": "db", "named": "xcatd", "dhcpd": "xcatd", "conserver": "xcatd"}


@pytest.fixture
def ready(pg):
    """Everything the services need below them: VIP, links, database (and xcatd for the xCAT commands)."""
    return pg


def active(lab, unit):
    return lab.sh("systemctl is-active %s" % unit).stdout.strip() == "active"


def main_pids(lab, unit):
    pid = int(lab.sh("systemctl show -p MainPID --value %s" % unit).stdout.strip() or 0)
    if pid:
        return [pid]
    group = lab.sh("systemctl show -p ControlGroup --value %s" % unit).stdout.strip()
    return [int(p) for p in lab.sh("cat /sys/fs/cgroup/systemd%s/cgroup.procs /sys/fs/cgroup%s/cgroup.procs "
                                   "2>/dev/null" % (group, group)).stdout.split()]


@pytest.mark.parametrize("name", ["xcatd", "named", "dhcpd", "conserver"])
def test_ocf_tester(ready, name):
    ready.start_upto(BEFORE[name])
    result = ready.ocf_tester(name)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", ["xcatd", "named", "dhcpd", "conserver"])
def test_killed_main_process_is_reported_and_start_recovers(ready, name):
    ready.start_upto(BEFORE[name])
    assert ready.run(name, "start").returncode == 0
    pids = main_pids(ready, UNITS[name])
    assert pids
    before = set(ready.sh("pgrep %s" % PROCESSES[name]).stdout.split())
    ready.sh("kill -KILL %s" % " ".join(map(str, pids)))
    time.sleep(6)  # longer than xcatd's RestartSec=5s: systemd must not restart it behind Pacemaker
    result = ready.run(name, "monitor", interval_ms=10000)
    assert result.returncode in (1, 7), result.stderr
    assert set(ready.sh("pgrep %s" % PROCESSES[name]).stdout.split()) <= before  # no new instance
    assert ready.run(name, "start").returncode == 0
    assert ready.run(name, "monitor", depth=10, interval_ms=60000).returncode == 0


@pytest.mark.parametrize("name", ["xcatd", "named", "dhcpd", "conserver"])
def test_probe_on_the_standby(ready, name):
    result = ready.run(name, "monitor", env={"OCF_RESKEY_CRM_meta_interval": "0"})
    assert result.returncode == 7, result.stderr
    assert ready.run(name, "stop").returncode == 0


def test_xcatd_fails_to_start_without_its_database(ready):
    ready.start_upto("db")
    assert ready.run("db", "stop").returncode == 0
    result = ready.run("xcatd", "start", timeout=20)
    assert result.returncode == 1 and exit_reason(result)
    assert not active(ready, "xcatd")
    assert ready.sh("pgrep %s" % XCATD).returncode != 0  # nothing half-started


def test_xcatd_lsxcatd_at_depth_10(ready):
    ready.start_upto("xcatd")
    assert ready.run("xcatd", "monitor", depth=10, interval_ms=60000).returncode == 0
    assert "This is a Management Node" in ready.sh("/opt/xcat/bin/lsxcatd -a").stdout
    assert ready.run("xcatd", "stop").returncode == 0
    assert ready.sh("pgrep %s" % XCATD).returncode != 0


def test_dns_answers_the_client_at_the_vip(ready):
    ready.start_upto("named")
    answer = ready.lab.client_exec(["dig", "+short", "+time=2", "@" + ready.cfg.vip,
                                    "%s.%s" % (ready.cfg.vip_name, ready.cfg.domain), "A"]).stdout.split()
    assert answer == [ready.cfg.vip]


def test_makedns_failure_fails_start_and_leaves_nothing(ready):
    ready.start_upto("xcatd")
    domain = ready.sh("/opt/xcat/bin/lsdef -t site -i domain").stdout
    assert ready.sh("/opt/xcat/bin/chdef -t site domain=").returncode == 0
    try:
        result = ready.run("named", "start")
        assert result.returncode == 1
        reason = exit_reason(result)
        assert "makedns -n failed: Error: " in reason and "domain not defined in site table" in reason, reason
        assert not active(ready, "named")
    finally:
        ready.sh("/opt/xcat/bin/chdef -t site domain=%s" % ready.cfg.domain)
    assert ready.cfg.domain in domain


def test_dhcp_offer_reaches_the_client(ready):
    ready.start_upto("dhcpd")
    ready.lab.client_exec(["rm", "-f", "/tmp/xha-test.leases"])  # no remembered lease: a real DISCOVER
    result = ready.lab.client_exec(["dhclient", "-1", "-v", "-sf", "/bin/true", "-lf", "/tmp/xha-test.leases",
                                    "-pf", "/tmp/xha-test.pid", "eth1"], timeout=60)
    ready.lab.client_exec(["dhclient", "-x", "-pf", "/tmp/xha-test.pid"])
    assert "DHCPOFFER of %s.50" % ready.cfg.net in result.stderr, result.stderr


def test_makedhcp_failure_fails_start_and_leaves_nothing(ready):
    ready.start_upto("xcatd")
    assert ready.sh("/opt/xcat/bin/chdef cn1 mac=not-a-mac").returncode == 0
    try:
        result = ready.run("dhcpd", "start")
        assert result.returncode == 1 and "makedhcp -a failed" in exit_reason(result)
        assert not active(ready, "isc-dhcp-server")
        assert ready.sh("pgrep -x dhcpd").returncode != 0
    finally:
        ready.sh("/opt/xcat/bin/chdef cn1 mac=%s" % ready.cfg.client_dhcp_mac)


def test_console_unit_is_never_left_enabled(ready):
    ready.start_upto("conserver")
    # "indirect": only the conserver.service alias that lets makeconservercf's init-script call
    # reach Debian's unit (setup finish adds it); nothing starts it at boot
    assert ready.sh("systemctl is-enabled conserver-server").stdout.strip() in ("disabled", "indirect")
    assert ready.sh("ls /etc/systemd/system/*.wants/ | grep -c conserver").stdout.strip() == "0"
    # xCAT's conserver.cf wants SSL with xCAT's credentials (root's ~/.consolerc, written by setup)
    listing = ready.sh("console -u" if xcat.real() else "console -M 127.0.0.1 -u").stdout
    assert "cn1" in listing, listing


def test_console_children_do_not_survive_stop(ready):
    ready.start_upto("conserver")

    def children():  # conserver's own children and the console programs they run (exec consoles)
        servers = ready.sh("pgrep -d, -x conserver").stdout.strip()
        return ready.sh("pgrep -P %s" % servers).stdout.split() if servers else []
    wait_until(children, timeout=20)
    kids = children()
    assert ready.run("conserver", "stop").returncode == 0
    assert [pid for pid in kids if ready.sh("test -d /proc/%s" % pid).returncode == 0] == []
    assert ready.sh("pgrep -x conserver").returncode != 0
