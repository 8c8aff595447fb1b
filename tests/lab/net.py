"""The lab network: one bridge in its own namespace, every node, BMC and the
client in a namespace of its own, each plugged into the bridge by a veth pair.
Nothing is created in the host's namespace, so deleting the namespaces
removes every interface."""

from pathlib import Path

from .config import LabConfig
from .util import LabError, log, run

NETNS_DIR = Path("/run/netns")
ETC_NETNS = Path("/etc/netns")


def netns_path(name: str) -> str:
    return str(NETNS_DIR / name)


def existing_lab_netns(cfg: LabConfig) -> list[str]:
    """Our namespaces that exist now (by prefix, so stale ones are found too)."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(cfg.prefix + "-"))


def ip(netns: str, *args: str, check: bool = True):
    return run(["ip", "-n", netns] + list(args), check=check)


def _add_netns(name: str) -> None:
    run(["ip", "netns", "add", name])
    ip(name, "link", "set", "lo", "up")


def _plug(cfg: LabConfig, port: str, netns: str, ifname: str, mac: str = "") -> None:
    """veth pair: `port` on the bridge, `ifname` inside netns."""
    sw = cfg.netns("sw")
    ip(sw, "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", netns)
    ip(sw, "link", "set", port, "master", "br0", "up")
    if mac:
        ip(netns, "link", "set", ifname, "address", mac)
    ip(netns, "link", "set", ifname, "up")


def create_network(cfg: LabConfig) -> None:
    sw = cfg.netns("sw")
    for name in cfg.all_netns():
        _add_netns(name)
    ip(sw, "link", "add", "br0", "type", "bridge")
    ip(sw, "link", "set", "br0", "up")

    client = cfg.netns("client")
    _plug(cfg, "client", client, "eth0")
    ip(client, "addr", "add", cfg.client_ip + "/24", "dev", "eth0")
    # Second client port: no address, fixed MAC, for DHCP tests.
    _plug(cfg, "client-dhcp", client, "eth1", mac=cfg.client_dhcp_mac)

    for node in cfg.node_names:
        # A node's eth0 stays down until the node boots (powered off).
        sw_port = node[:15]
        ip(sw, "link", "add", sw_port, "type", "veth", "peer", "name", "eth0",
           "netns", cfg.node_netns(node))
        ip(sw, "link", "set", sw_port, "master", "br0", "up")
        bmc = cfg.bmc_netns(node)
        _plug(cfg, bmc[len(cfg.prefix) + 1:], bmc, "eth0")
        ip(bmc, "addr", "add", cfg.bmc_ip(node) + "/24", "dev", "eth0")
    _write_client_etc(cfg)
    log.info("network up: bridge in %s, %s", sw, ", ".join(cfg.all_netns()[1:]))


def _write_client_etc(cfg: LabConfig) -> None:
    """`ip netns exec` bind-mounts /etc/netns/NAME/* over /etc: gives the
    client its own hosts file, and a resolv.conf that DHCP client scripts
    may overwrite without touching the host's."""
    d = ETC_NETNS / cfg.netns("client")
    d.mkdir(parents=True, exist_ok=True)
    (d / "hosts").write_text(cfg.hosts_file())
    (d / "resolv.conf").write_text("# xcatha lab client\n")


def delete_network(cfg: LabConfig) -> None:
    for name in existing_lab_netns(cfg):
        run(["ip", "netns", "del", name], check=False)
    for d in ETC_NETNS.glob(cfg.prefix + "-*"):
        for f in d.iterdir():
            f.unlink()
        d.rmdir()
    if ETC_NETNS.is_dir() and not any(ETC_NETNS.iterdir()):
        ETC_NETNS.rmdir()
    left = existing_lab_netns(cfg)
    if left:
        raise LabError("network namespaces left: %s" % left)


def set_node_link(cfg: LabConfig, node: str, up: bool) -> None:
    ns = cfg.node_netns(node)
    if not (NETNS_DIR / ns).exists() and not up:
        return                          # no network at all: nothing to take down
    ip(ns, "link", "set", "eth0", "up" if up else "down")


def reset_node_address(cfg: LabConfig, node: str) -> None:
    """What a freshly booted box has: its own address only (no VIP)."""
    ns = cfg.node_netns(node)
    ip(ns, "addr", "flush", "dev", "eth0")
    ip(ns, "addr", "add", cfg.node_ip(node) + "/24", "dev", "eth0")
    ip(ns, "link", "set", "eth0", "up")
