"""Address matching from `ip -j addr` output and the ARP conflict rule."""
import ipaddress
import struct

import pytest

from xcatha import vip
from xcatha.ocf import ExitCode, OcfError

LINKS = [
    {"ifname": "lo", "flags": ["LOOPBACK", "UP", "LOWER_UP"], "operstate": "UNKNOWN",
     "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]},
    {"ifname": "eth0", "flags": ["BROADCAST", "UP", "LOWER_UP"], "operstate": "UP",
     "addr_info": [{"family": "inet", "local": "10.0.0.1", "prefixlen": 24},
                   {"family": "inet", "local": "10.0.0.50", "prefixlen": 24}]},
    {"ifname": "eth1", "flags": ["BROADCAST", "UP"], "operstate": "DOWN",
     "addr_info": [{"family": "inet", "local": "172.16.0.1", "prefixlen": 16},
                   {"family": "inet6", "local": "2001:db8::1", "prefixlen": 64, "tentative": True}]},
]


def ip(text):
    return ipaddress.ip_address(text)


def test_exact_match_not_prefix():
    assert vip.find(ip("10.0.0.5"), LINKS) == []
    found = vip.find(ip("10.0.0.50"), LINKS)
    assert [(b.nic, b.prefixlen, b.link_up) for b in found] == [("eth0", 24, True)]


def test_link_down_and_tentative():
    assert vip.find(ip("172.16.0.1"), LINKS)[0].link_up is False
    assert vip.find(ip("2001:db8::1"), LINKS)[0].tentative is True


def test_derive_nic_from_connected_subnet():
    assert vip.derive_nic(ip("10.0.0.10"), LINKS) == ("eth0", 24)
    assert vip.derive_nic(ip("172.16.5.5"), LINKS) == ("eth1", 16)
    assert vip.derive_nic(ip("192.0.2.1"), LINKS) == (None, None)


def test_choose_binding():
    assert vip.choose_binding(ip("10.0.0.10"), None, None, LINKS) == ("eth0", 24)
    assert vip.choose_binding(ip("10.0.0.10"), "eth0", 25, LINKS) == ("eth0", 25)
    assert vip.choose_binding(ip("192.0.2.1"), "eth0", None, LINKS) == ("eth0", 32)
    with pytest.raises(OcfError) as missing:
        vip.choose_binding(ip("10.0.0.10"), "eth9", None, LINKS)
    assert missing.value.code == ExitCode.ERR_ARGS
    with pytest.raises(OcfError):
        vip.choose_binding(ip("192.0.2.1"), None, None, LINKS)


def arp(operation, sender_mac, sender_ip, target_ip):
    return (b"\xff" * 6 + sender_mac + struct.pack("!H", 0x0806) + struct.pack("!HHBBH", 1, 0x800, 6, 4, operation)
            + sender_mac + sender_ip + b"\0" * 6 + target_ip)


def test_arp_conflict_rules():
    own, other = b"\x02\0\0\0\0\x01", b"\x02\0\0\0\0\x02"
    vip_ip, zero, elsewhere = bytes([10, 0, 0, 10]), b"\0" * 4, bytes([10, 0, 0, 99])
    assert vip._arp_conflict(arp(2, other, vip_ip, zero), own, vip_ip) == "02:00:00:00:00:02"   # a reply
    assert vip._arp_conflict(arp(1, other, zero, vip_ip), own, vip_ip)                          # probing too
    assert vip._arp_conflict(arp(1, own, zero, vip_ip), own, vip_ip) is None                    # our probe
    assert vip._arp_conflict(arp(1, other, elsewhere, vip_ip), own, vip_ip) is None             # asking for it
    assert vip._arp_conflict(b"short", own, vip_ip) is None


def with_vip(links, address, prefixlen=24, nic="eth0"):
    import copy
    links = copy.deepcopy(links)
    for link in links:
        if link["ifname"] == nic:
            link["addr_info"].append({"family": "inet", "local": address, "prefixlen": prefixlen})
    return links


def test_start_adds_the_address_with_iproute2_and_announces_it(runner, tmp_path, monkeypatch):
    """`ip addr add` as IPaddr2 does: no netlink library imported on the failover's first step."""
    import json

    monkeypatch.setattr(vip, "STATE_DIR", str(tmp_path))

    from xcatha.ocf import Deadline

    from .conftest import Call, fixture
    links = json.loads(fixture("ip-j-addr-host1.json"))
    runner.expect(Call(["ip", "-j", "addr", "show"], stdout=json.dumps(links)),
                  Call(["ip", "-4", "addr", "add", "192.168.73.10/24", "brd", "192.168.73.255", "dev", "eth0"]),
                  Call(["ip", "-j", "addr", "show"], stdout=json.dumps(with_vip(links, "192.168.73.10"))),
                  Call(["arping", "-q", "-U", "-c", "3", "-I", "eth0", "192.168.73.10"]))
    vip.start(ip("192.168.73.10"), "eth0", 24, None, 3, 0, "vip", Deadline(20))
    # the background arping is recorded, for the stop to end it
    assert (tmp_path / "xcatha-vip-arping-192.168.73.10").read_text() == "4242\n"


def test_stop_removes_exactly_the_address_and_says_why_when_it_cannot(runner, tmp_path, monkeypatch):
    import json

    monkeypatch.setattr(vip, "STATE_DIR", str(tmp_path))

    from xcatha.ocf import Deadline

    from .conftest import Call, fixture
    links = with_vip(json.loads(fixture("ip-j-addr-host1.json")), "192.168.73.10")
    runner.expect(Call(["ip", "-j", "addr", "show", "dev", "eth0"], stdout=json.dumps(links)),
                  Call(["ip", "-4", "addr", "del", "192.168.73.10/24", "dev", "eth0"], rc=2,
                       stderr="RTNETLINK answers: Operation not permitted\n"))
    with pytest.raises(OcfError) as error:
        vip.stop(ip("192.168.73.10"), "eth0", None, "vip", Deadline(20))
    assert error.value.reason == ("ip addr del 192.168.73.10/24 dev eth0: RTNETLINK answers: Operation not "
                                  "permitted")


def test_stop_ends_the_announcing_arping_before_the_address_goes(tmp_path, monkeypatch):
    """A gratuitous ARP sent after the stop claims the VIP for this host; the peer's start,
    probing for it, refused a VIP nobody held (lab: a move back right after a refused start).
    The arping a start left in the background is killed, and only that process."""
    import subprocess
    import time

    monkeypatch.setattr(vip, "STATE_DIR", str(tmp_path))
    address = ip("192.168.73.10")
    # a process whose command line is the announcer's, and one whose is not (a reused pid)
    announcer = subprocess.Popen(["bash", "-c", "exec -a arping tail -q -f /dev/null 192.168.73.10"],
                                 stderr=subprocess.DEVNULL)
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        time.sleep(0.3)
        (tmp_path / ("xcatha-vip-arping-%s" % address)).write_text("%d\n" % bystander.pid)
        vip.stop_announcing(address)
        assert bystander.poll() is None and not (tmp_path / ("xcatha-vip-arping-%s" % address)).exists()
        (tmp_path / ("xcatha-vip-arping-%s" % address)).write_text("%d\n" % announcer.pid)
        vip.stop_announcing(address)
        assert announcer.wait(timeout=5) == -15
        vip.stop_announcing(address)   # nothing recorded: nothing to do
    finally:
        for process in (announcer, bystander):
            if process.poll() is None:
                process.kill()
                process.wait()
