"""First answers through the VIP from the client namespace, at a finer grain than
the lab's probes (pair.PROBES, which make demo and the tests use):

- vip: one ping that waits 0.3 s instead of 1 s;
- dhcp: DISCOVERs for the client's DHCP MAC every 0.25 s from one small process,
  until an OFFER of that MAC's fixed address arrives (dhclient retransmits only
  after a second or more, which would be measured as DHCP being late); with a
  target node, only an offer from that node counts;
- xcatd, dns, sql: the lab's probes (once the VIP is up they fail at once).
"""
import concurrent.futures
import json
import time

from lab import pair
from lab.util import log

DHCP_INTERVAL = 0.25
DHCP_ATTEMPT = 10.0


def probe_vip(lab):
    return lab.client_exec(["ping", "-c", "1", "-W", "0.3", lab.cfg.vip], timeout=5).returncode == 0


def dhcp_offer(lab):
    """(monotonic time of the OFFER, offered address, server address), or None: the lab's
    PXE probe (tests/lab/dhcp_probe.py), asking every DHCP_INTERVAL seconds."""
    result = lab.client_exec(["/usr/bin/python3", "-I", str(pair.DHCP_PROBE), "eth0", lab.cfg.client_dhcp_mac,
                              str(DHCP_ATTEMPT), str(DHCP_INTERVAL)], timeout=DHCP_ATTEMPT + 10)
    if result.returncode != 0:
        return None
    offer = json.loads(result.stdout)
    return offer["at"], offer["yiaddr"], offer["sender"]


def fixed_address(lab):
    """The address xCAT's DHCP host entry gives the client's DHCP MAC (a compute node's)."""
    from lab.config import COMPUTE_NODES
    mac = lab.cfg.client_dhcp_mac.lower()
    octet = next(octet for _, octet, node_mac in COMPUTE_NODES if node_mac and node_mac.lower() == mac)
    return "%s.%d" % (lab.cfg.net, octet)


# The lab's probes, but a faster ping, and DHCP timed by the offer's own arrival (watch_dhcp).
PROBES = {name: probe for name, probe in dict(pair.PROBES, vip=probe_vip).items() if name != "dhcp"}


def first_answers(lab, since, timeout=120, on=None):
    """Poll every service until it answers; {service: seconds after `since` (monotonic) or None}.
    With on=node an answer counts only once the VIP is on that node (and a DHCP offer only
    from that node)."""
    end = time.monotonic() + timeout

    def ready():
        return on is None or pair.vip_on(lab, on)

    def watch(name):
        while time.monotonic() < end:
            try:
                if ready() and PROBES[name](lab):
                    return time.monotonic() - since
            except Exception as error:  # noqa: BLE001 - a probe may fail while a node reboots
                log.debug("probe %s: %s", name, error)
            time.sleep(0.1)
        return None

    def watch_dhcp():
        wanted, server = fixed_address(lab), lab.cfg.node_ip(on) if on else None
        while time.monotonic() < end:
            try:
                offer = dhcp_offer(lab) if ready() else None
            except Exception as error:  # noqa: BLE001
                log.debug("probe dhcp: %s", error)
                offer = None
            if offer and offer[1] == wanted and (server is None or offer[2] == server):
                return offer[0] - since
            time.sleep(0.1)
        return None

    with concurrent.futures.ThreadPoolExecutor(len(pair.SERVICES)) as pool:
        futures = {name: pool.submit(watch, name) for name in PROBES}
        futures["dhcp"] = pool.submit(watch_dhcp)
        return {name: futures[name].result() for name in pair.SERVICES}
