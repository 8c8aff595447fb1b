"""The MN's virtual IP address: find, probe, add, announce, remove — exactly.

Reads use ``ip -j addr`` and changes ``ip addr add/del`` (iproute2, a few milliseconds
each, as IPaddr2): no netlink library's import on the start, stop or monitor path.  Addresses are
compared as ``ipaddress`` objects, never as text: 10.0.0.5 is not 10.0.0.50.
"""
import ipaddress
import json
import os
import time

from xcatha import run
from xcatha.log import log
from xcatha.ocf import STATE_DIR, ExitCode, OcfError

ETH_P_ARP = 0x0806
BROADCAST_MAC = b"\xff" * 6
HOSTNAME_FILE = "/etc/hostname"


class Binding:
    """Where an address sits: interface, prefix length and link state."""

    __slots__ = ("nic", "prefixlen", "link_up", "tentative", "dad_failed")

    def __init__(self, nic, prefixlen, link_up, tentative=False, dad_failed=False):
        self.nic, self.prefixlen, self.link_up = nic, prefixlen, link_up
        self.tentative, self.dad_failed = tentative, dad_failed


def read_links(nic=None, deadline=None):
    """``ip -j addr show`` as parsed JSON; [] when the interface does not exist."""
    argv = ["ip", "-j", "addr", "show"] + (["dev", nic] if nic else [])
    result = run.run(argv, timeout=10, deadline=deadline, quiet=True)
    if not result.ok:
        if "does not exist" in result.stderr or "Cannot find device" in result.stderr:
            return []
        raise OcfError(ExitCode.ERR_GENERIC, "ip addr show failed: %s" % result.last_error_line())
    return json.loads(result.stdout or "[]")


def local_addresses(links=None):
    """Every address this host holds, as text."""
    links = read_links() if links is None else links
    return {info.get("local") for link in links for info in link.get("addr_info", [])}


def _link_up(link):
    flags = link.get("flags", [])
    return "UP" in flags and "LOWER_UP" in flags and link.get("operstate") != "DOWN"


def find(address, links):
    """Every interface that holds exactly this address."""
    found = []
    for link in links:
        for info in link.get("addr_info", []):
            try:
                local = ipaddress.ip_address(info.get("local", ""))
            except ValueError:
                continue
            if local == address:
                found.append(Binding(link["ifname"], int(info.get("prefixlen", 0)), _link_up(link),
                                     bool(info.get("tentative")), bool(info.get("dadfailed"))))
    return found


def derive_nic(address, links):
    """The interface whose own (non-VIP) address shares the VIP's subnet, and that prefix —
    what IPaddr2's findif does with the routing table's connected routes."""
    for link in links:
        for info in link.get("addr_info", []):
            try:
                interface = ipaddress.ip_interface("%s/%s" % (info.get("local"), info.get("prefixlen")))
            except ValueError:
                continue
            if interface.ip != address and address in interface.network and not interface.ip.is_loopback:
                return link["ifname"], interface.network.prefixlen
    return None, None


def choose_binding(address, nic, prefixlen, links):
    """The nic and prefix the VIP belongs on, from the parameters or the host's networks."""
    derived_nic, derived_prefix = derive_nic(address, links)
    nic = nic or derived_nic
    if not nic:
        raise OcfError(ExitCode.ERR_ARGS, "no interface has an address in the subnet of %s; "
                       "set the nic and cidr_netmask parameters" % address)
    if not any(link["ifname"] == nic for link in links):
        raise OcfError(ExitCode.ERR_ARGS, "interface %s does not exist on this node" % nic)
    if prefixlen is None:
        prefixlen = derived_prefix if derived_nic == nic and derived_prefix else address.max_prefixlen
    if prefixlen > address.max_prefixlen:
        raise OcfError(ExitCode.ERR_CONFIGURED, "cidr_netmask %d is too long for %s" % (prefixlen, address))
    return nic, prefixlen


# ---------------------------------------------------------------- duplicate address probe
# RFC 5227 §2.1.1 for a decision an admin waits for (who holds the VIP): PROBE_NUM 3 probes,
# PROBE_MIN..PROBE_MAX (1-2 s) apart, and conflicts heard until well after the last one.  A
# host that is busy (a hung MN) may take longer than a fraction of a second to answer.
RFC5227_PROBE = {"wait": 5.0, "probes": 3}


def arp_probe(nic, address, wait=0.3, probes=2):
    """RFC 5227 ARP probe (what ``arping -D`` sends): is another host using the address?

    Sends ``probes`` requests from 0.0.0.0 for the address and listens ``wait``
    seconds.  Any ARP packet from another MAC that claims the address, or probes
    for it at the same moment, is a conflict.  Returns the conflicting MAC or None.
    """
    import select
    import socket
    import struct

    target = address.packed
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP)) as sock:
        sock.bind((nic, ETH_P_ARP))
        own_mac = sock.getsockname()[4]
        probe = (BROADCAST_MAC + own_mac + struct.pack("!H", ETH_P_ARP)
                 + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
                 + own_mac + b"\0\0\0\0" + b"\0" * 6 + target)
        end = time.monotonic() + wait
        next_probe, sent = time.monotonic(), 0
        while True:
            now = time.monotonic()
            if sent < probes and now >= next_probe:
                sock.send(probe)
                sent += 1
                next_probe = now + wait / max(probes, 1)
            if now >= end:
                return None
            ready, _, _ = select.select([sock], [], [], max(min(end, next_probe) - now, 0.001))
            if not ready:
                continue
            frame = sock.recv(2048)
            conflict = _arp_conflict(frame, own_mac, target)
            if conflict:
                return conflict


def _arp_conflict(frame, own_mac, target):
    import struct

    if len(frame) < 42:
        return None
    operation = struct.unpack("!H", frame[20:22])[0]
    sender_mac, sender_ip, target_ip = frame[22:28], frame[28:32], frame[38:42]
    if sender_mac == own_mac:
        return None
    if sender_ip == target or (operation == 1 and sender_ip == b"\0\0\0\0" and target_ip == target):
        return ":".join("%02x" % byte for byte in sender_mac)
    return None


# ---------------------------------------------------------------- changes (iproute2)
# `ip addr add/del`, as IPaddr2 does: a few milliseconds, where importing pyroute2 cost the
# start ~140 ms of CPU and 33 MiB, at the head of every failover.
def _ip(verb, nic, address, prefixlen, extra=()):
    argv = ["ip", "-%d" % address.version, "addr", verb, "%s/%d" % (address, prefixlen), *extra, "dev", nic]
    result = run.run(argv, timeout=10)
    if not result.ok:
        raise OcfError(ExitCode.ERR_GENERIC, "ip addr %s %s/%d dev %s: %s" % (verb, address, prefixlen, nic,
                                                                            result.last_error_line()))


def add(nic, address, prefixlen):
    extra = []
    if address.version == 4 and prefixlen < 31:
        network = ipaddress.ip_network("%s/%d" % (address, prefixlen), strict=False)
        extra = ["brd", str(network.broadcast_address)]
    _ip("add", nic, address, prefixlen, extra)


def delete(nic, address, prefixlen):
    _ip("del", nic, address, prefixlen)


def announce(nic, address, count):
    """Gratuitous ARPs so neighbours (switches, compute nodes) update at once.
    arping sends the first one immediately; the rest follow in the background."""
    if address.version != 4 or count <= 0:
        return
    try:
        pid = run.spawn(["arping", "-q", "-U", "-c", str(count), "-I", nic, str(address)])
    except FileNotFoundError:
        log.warning("arping not found: neighbours learn the new MAC address only when their ARP entries expire")
        return
    try:
        os.makedirs(STATE_DIR, exist_ok=True)
        with open(_announcer_file(address), "w", encoding="ascii") as stream:
            stream.write("%d\n" % pid)
    except OSError as error:
        log.debug("cannot record the announcing arping's pid: %s", error)


def _announcer_file(address):
    return os.path.join(STATE_DIR, "xcatha-vip-arping-%s" % address)


def stop_announcing(address):
    """Ends the background arping of a start before the address goes (as IPaddr2 kills its
    send_arp): a gratuitous ARP sent after the stop claims the address for this host, and the
    peer's start, probing for it, refuses a VIP nobody holds (seen in the lab: a move back
    right after a refused start failed there, start-failure-is-fatal kept the group away)."""
    path = _announcer_file(address)
    try:
        with open(path, encoding="ascii") as stream:
            pid = int(stream.read().strip())
        with open("/proc/%d/cmdline" % pid, "rb") as stream:
            argv = stream.read().split(b"\0")
        if argv and os.path.basename(argv[0]) == b"arping" and str(address).encode() in argv:
            os.kill(pid, 15)
            log.debug("stopped the announcing arping (pid %d)", pid)
    except (OSError, ValueError):
        pass   # none recorded, or it has ended: nothing is announcing
    try:
        os.unlink(path)
    except OSError:
        pass


def wait_dad(nic, address, deadline):
    """IPv6: the kernel runs duplicate address detection; wait for its verdict."""
    while True:
        bindings = [b for b in find(address, read_links(nic, deadline)) if b.nic == nic]
        if not bindings:
            raise OcfError(ExitCode.ERR_GENERIC, "%s vanished from %s during DAD" % (address, nic))
        if bindings[0].dad_failed:
            return False
        if not bindings[0].tentative:
            return True
        if deadline.remaining() < 1:
            raise OcfError(ExitCode.ERR_GENERIC, "duplicate address detection of %s did not finish" % address)
        time.sleep(0.1)


# ---------------------------------------------------------------- hostname
def own_hostname_file(instance):
    return os.path.join(STATE_DIR, "xcatha-vip-%s.hostname" % instance)


def static_hostname():
    try:
        with open(HOSTNAME_FILE, encoding="utf-8") as stream:
            return stream.read().strip() or None
    except OSError:
        return None


def set_vip_hostname(name, instance):
    import socket

    current = socket.gethostname()
    if current == name:
        return
    os.makedirs(STATE_DIR, exist_ok=True)
    with open(own_hostname_file(instance), "w", encoding="utf-8") as stream:
        stream.write(current + "\n")
    socket.sethostname(name)
    log.info("hostname set to %s (was %s)", name, current)


def restore_hostname(name, instance):
    """Back to the node's own name: the one remembered at start, else /etc/hostname."""
    import socket

    path = own_hostname_file(instance)
    try:
        with open(path, encoding="utf-8") as stream:
            own = stream.read().strip()
    except OSError:
        own = None
    own = own or static_hostname()
    current = socket.gethostname()
    if own and current == name and own != name:
        socket.sethostname(own)
        log.info("hostname restored to %s", own)
    if os.path.exists(path):
        os.unlink(path)


# ---------------------------------------------------------------- the resource
def status(address, nic, deadline=None):
    """(code, reason): SUCCESS, NOT_RUNNING, or ERR_GENERIC when present but unusable."""
    bindings = find(address, read_links(None, deadline))
    if nic:
        elsewhere = [b.nic for b in bindings if b.nic != nic]
        bindings = [b for b in bindings if b.nic == nic]
        if not bindings and elsewhere:
            return ExitCode.ERR_GENERIC, "%s is on %s, not on %s" % (address, ", ".join(elsewhere), nic)
    if not bindings:
        return ExitCode.NOT_RUNNING, "%s is not configured" % address
    binding = bindings[0]
    if binding.dad_failed:
        return ExitCode.ERR_GENERIC, "%s on %s failed duplicate address detection" % (address, binding.nic)
    if not binding.link_up:
        return ExitCode.ERR_GENERIC, "%s is on %s but its link is down" % (address, binding.nic)
    return ExitCode.SUCCESS, "%s is up on %s" % (address, binding.nic)


def start(address, nic, prefixlen, hostname, arp_count, dad_wait_ms, instance, deadline):
    links = read_links(None, deadline)
    present = find(address, links)
    if present and (not nic or any(b.nic == nic for b in present)):
        code, reason = status(address, nic, deadline)
        if code != ExitCode.SUCCESS:
            raise OcfError(code, reason)
        log.info("%s already up on %s", address, present[0].nic)
    else:
        nic, prefixlen = choose_binding(address, nic, prefixlen, links)
        if address.version == 4 and dad_wait_ms > 0:
            conflict = arp_probe(nic, address, wait=dad_wait_ms / 1000.0)
            if conflict:
                raise OcfError(ExitCode.ERR_GENERIC, "%s is already in use by another host (MAC %s); "
                               "refusing to take it over" % (address, conflict))
        add(nic, address, prefixlen)
        if address.version == 6 and not wait_dad(nic, address, deadline):
            delete(nic, address, prefixlen)
            raise OcfError(ExitCode.ERR_GENERIC, "%s is already in use on the link (IPv6 DAD failed)" % address)
        code, reason = status(address, nic, deadline)
        if code != ExitCode.SUCCESS:
            raise OcfError(ExitCode.ERR_GENERIC, "after adding: %s" % reason)
        announce(nic, address, arp_count)
        log.info("%s/%d added to %s", address, prefixlen, nic)
    if hostname:
        set_vip_hostname(hostname, instance)


def stop(address, nic, hostname, instance, deadline):
    stop_announcing(address)
    for binding in find(address, read_links(nic, deadline)):
        delete(binding.nic, address, binding.prefixlen)
        log.info("%s/%d removed from %s", address, binding.prefixlen, binding.nic)
    remaining = find(address, read_links(nic, deadline))
    if remaining:
        raise OcfError(ExitCode.ERR_GENERIC, "%s is still on %s after removal"
                       % (address, ", ".join(b.nic for b in remaining)))
    if hostname:
        restore_hostname(hostname, instance)
