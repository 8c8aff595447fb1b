#!/usr/bin/python3
"""What a PXE-booting compute node asks first: one DHCP DISCOVER, and the OFFER it gets.

Run in the lab's client namespace as a script (standard library only):
    dhcp_probe.py IFACE MAC [TIMEOUT [INTERVAL]]
It broadcasts a DISCOVER from IFACE with chaddr MAC every INTERVAL seconds (default
1), announcing itself as an x86 BIOS PXE client (option 93 = 0, the PXE class
identifier) so that xCAT's dhcpd.conf picks its boot file, and prints the first
OFFER as one JSON line: {"yiaddr": the offered address, "siaddr": next-server,
"file": the boot file, "server_id": option 54, "sender": the address it came from,
"at": its arrival on CLOCK_MONOTONIC (the bench times failovers by it)}.  Exit 1
when no offer came.  dhclient cannot show the next-server field, and that is what
must be the VIP after a failover.
"""
import json
import os
import select
import socket
import struct
import sys
import time

MAGIC = b"\x63\x82\x53\x63"


def discover(xid, mac):
    header = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000, b"\0" * 4, b"\0" * 4,
                         b"\0" * 4, b"\0" * 4, mac + b"\0" * 10, b"\0" * 64, b"\0" * 128)
    vendor = b"PXEClient:Arch:00000:UNDI:002001"
    options = (bytes([53, 1, 1]) + bytes([93, 2, 0, 0]) + bytes([60, len(vendor)]) + vendor
               + bytes([55, 6, 1, 3, 6, 15, 66, 67]) + bytes([255]))
    return header + MAGIC + options


def parse(packet, xid):
    if len(packet) < 240 or packet[236:240] != MAGIC:
        return None
    op, _, _, _, packet_xid = struct.unpack("!BBBBI", packet[:8])
    if op != 2 or packet_xid != xid:
        return None
    options, position = {}, 240
    while position < len(packet) and packet[position] != 255:
        code = packet[position]
        if code == 0:
            position += 1
            continue
        length = packet[position + 1]
        options[code] = packet[position + 2:position + 2 + length]
        position += 2 + length
    if options.get(53) != b"\x02":
        return None
    return {"yiaddr": socket.inet_ntoa(packet[16:20]), "siaddr": socket.inet_ntoa(packet[20:24]),
            "file": packet[108:236].split(b"\0", 1)[0].decode("ascii", "replace"),
            "server_id": socket.inet_ntoa(options[54]) if len(options.get(54, b"")) == 4 else None}


def main(iface, mac_text, timeout=4.0, interval=1.0):
    mac = bytes(int(part, 16) for part in mac_text.split(":"))
    xid = struct.unpack("!I", os.urandom(4))[0]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
        sock.bind(("0.0.0.0", 68))
        end = time.monotonic() + timeout
        next_send = 0.0
        while time.monotonic() < end:
            if time.monotonic() >= next_send:
                sock.sendto(discover(xid, mac), ("255.255.255.255", 67))
                next_send = time.monotonic() + interval
            ready, _, _ = select.select([sock], [], [], max(min(end, next_send) - time.monotonic(), 0.01))
            if ready:
                packet, sender = sock.recvfrom(4096)
                at = time.monotonic()
                offer = parse(packet, xid)
                if offer:
                    print(json.dumps(dict(offer, sender=sender[0], at=at)))
                    return 0
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], *(float(arg) for arg in sys.argv[3:5])))
