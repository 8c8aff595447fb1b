"""ocf:xcat:vip on a booted node, against a client on the same bridge."""
import json
import time

import pytest

from .support import exit_reason, no_traceback


def test_ocf_tester(pg):
    result = pg.ocf_tester("vip")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed all tests" in result.stdout


def test_double_start_and_stop_change_nothing_more(pg):
    vip = "%s/24" % pg.cfg.vip
    for _ in range(2):
        assert pg.run("vip", "start").returncode == 0
        assert pg.sh("ip -o addr show dev eth0 | grep -c 'inet %s '" % vip).stdout.strip() == "1"
        assert pg.run("vip", "monitor").returncode == 0
    for _ in range(2):
        assert pg.run("vip", "stop").returncode == 0
        assert vip not in pg.addresses()
        assert pg.run("vip", "monitor").returncode == 7


def test_hostname_follows_the_vip(pg):
    assert pg.sh("hostname").stdout.strip() == "host1"
    assert pg.run("vip", "start").returncode == 0
    assert pg.sh("hostname").stdout.strip() == pg.cfg.vip_name
    assert pg.run("vip", "stop").returncode == 0
    assert pg.sh("hostname").stdout.strip() == "host1"


def test_refuses_a_vip_another_host_answers_for(pg):
    client_has = "%s/24" % pg.cfg.vip
    pg.lab.client_exec(["ip", "addr", "add", client_has, "dev", "eth0"], check=True)
    try:
        before = pg.addresses()
        result = pg.run("vip", "start")
        assert result.returncode == 1
        assert "already in use by another host" in exit_reason(result)
        assert pg.addresses() == before  # nothing changed here
        assert pg.run("vip", "stop").returncode == 0  # and stop must not take the other's address
        assert client_has in pg.lab.client_exec(["ip", "-o", "addr"]).stdout
    finally:
        pg.lab.client_exec(["ip", "addr", "del", client_has, "dev", "eth0"])


def test_exact_address_match_not_a_prefix(pg):
    longer = pg.cfg.vip + "0"  # 192.168.77.10 vs 192.168.77.100
    pg.sh("ip addr add %s/24 dev eth0" % longer)
    try:
        assert pg.run("vip", "monitor").returncode == 7
        assert pg.run("vip", "stop").returncode == 0
        assert "%s/24" % longer in pg.addresses()
        assert pg.run("vip", "start").returncode == 0
        assert pg.run("vip", "stop").returncode == 0
        assert "%s/24" % longer in pg.addresses() and "%s/24" % pg.cfg.vip not in pg.addresses()
    finally:
        pg.sh("ip addr del %s/24 dev eth0" % longer)


def test_link_down_is_a_failure_not_a_stop(pg):
    assert pg.run("vip", "start").returncode == 0
    pg.sh("ip link set eth0 down")
    try:
        result = pg.run("vip", "monitor", interval_ms=10000)
        assert result.returncode == 1 and "link is down" in exit_reason(result)
    finally:
        pg.sh("ip link set eth0 up")
    assert pg.run("vip", "monitor").returncode == 0


def test_gratuitous_arp_updates_the_client(pg):
    stale = "02:00:00:00:00:99"
    pg.lab.client_exec(["ip", "neigh", "replace", pg.cfg.vip, "lladdr", stale, "dev", "eth0", "nud", "stale"],
                       check=True)
    assert pg.run("vip", "start").returncode == 0
    mac = json.loads(pg.sh("ip -j link show dev eth0").stdout)[0]["address"]
    for _ in range(30):
        neighbour = pg.lab.client_exec(["ip", "neigh", "show", pg.cfg.vip]).stdout
        if mac in neighbour:
            break
        time.sleep(0.1)
    assert mac in neighbour, neighbour
    assert pg.lab.client_exec(["ping", "-c", "1", "-W", "2", pg.cfg.vip]).returncode == 0


@pytest.mark.parametrize("params,code", [
    ({"ip": "192.168.77.300"}, 6), ({"ip": "not-an-ip"}, 6), ({"ip": "224.0.0.1"}, 6),
    ({"ip": "192.168.77.10", "cidr_netmask": "200"}, 6), ({"ip": "192.168.77.10", "nic": "eth0/1"}, 6),
    ({"ip": "192.168.77.10", "nic": "eth0;reboot"}, 2),
    ({"ip": "192.168.77.10", "nic": "eth9"}, 2), ({"ip": "10.99.0.1"}, 2),
    ({"ip": "192.168.77.10", "hostname": "bad_host name"}, 6), ({"ip": "192.168.77.10", "arp_count": "-1"}, 6)])
def test_bad_parameters_are_refused_and_change_nothing(pg, params, code):
    before = pg.addresses(), pg.sh("hostname").stdout
    result = pg.run("vip", "start", params)
    assert result.returncode == code
    assert exit_reason(result)
    no_traceback(result)
    assert (pg.addresses(), pg.sh("hostname").stdout) == before
    assert pg.run("vip", "stop", params).returncode == 0  # stop never fails on bad configuration
