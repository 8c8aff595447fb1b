"""Lab topology and settings: one dataclass, saved as JSON in the work dir so
that other processes (the vBMCs, later CLI calls) act on the same lab."""

import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Services the HA stack manages: a real management node has them disabled at
# boot.  openipmi is not HA-managed; it is disabled only because it always
# fails in a container (no IPMI device), which would make every node "degraded".
HA_MANAGED_UNITS = (
    "postgresql", "postgresql@15-main", "mariadb", "named",
    "isc-dhcp-server", "conserver-server", "apache2", "tftpd-hpa",
    "kea-dhcp4-server", "kea-ctrl-agent", "kea-dhcp-ddns-server",
)
NOISY_UNITS = ("openipmi",)
# The arbiter's daemon, installed on the host for the lab's arbiter (lab/arbiter.py): a node is no arbiter.
NOT_NODE_UNITS = ("corosync-qnetd",)
# The compute nodes xCAT knows in the lab: (name, last octet, MAC); cn1 is the client's
# DHCP port.  In every host's /etc/hosts, as xCAT's HA guide keeps it on both MNs.
COMPUTE_NODES = (("cn1", 50, "52:54:00:77:00:50"), ("cn2", 51, None))


@dataclass
class LabConfig:
    # The default lab; XCATHA_LAB_PREFIX/_NET/_WORKDIR move it aside, so that two
    # checkouts (a developer's and a helper's) can each run the tiers at once.
    prefix: str = os.environ.get("XCATHA_LAB_PREFIX", "xha")
    workdir: Path = Path(os.environ.get("XCATHA_LAB_WORKDIR", "/var/lib/xcatha-lab"))
    net: str = os.environ.get("XCATHA_LAB_NET", "192.168.77")
    node_names: tuple[str, ...] = ("host1", "host2")
    client_octet: int = 3
    client_dhcp_mac: str = "52:54:00:77:00:50"
    vip_octet: int = 10
    vip_name: str = "xcatmn"
    domain: str = "cluster.lab"
    cluster_name: str = "xcatha"
    hacluster_password: str = "labpass"
    bmc_user: str = "admin"
    bmc_password: str = "labpass"
    bmc_port: int = 623
    bmc_boot_delay: float = 5.0
    # Interpreter for the vBMC processes; it must be able to import pyghmi.
    bmc_python: str = sys.executable
    # (host_path, node_path, read_only), bind-mounted into every node.
    binds: list[tuple[str, str, bool]] = field(default_factory=list)
    disabled_units: tuple[str, ...] = HA_MANAGED_UNITS + NOISY_UNITS + NOT_NODE_UNITS
    boot_timeout: float = 90.0
    # Size limit of the tmpfs holding the nodes' writable layers.
    state_size: str = "8g"
    # "" : the shared data is a directory on the host; "fuse": a filesystem that can hang, fail
    # and fill up, served through FUSE (lab/storage.py).
    shared_storage: str = ""

    def __post_init__(self):
        self.workdir = Path(self.workdir)
        self.node_names = tuple(self.node_names)
        self.disabled_units = tuple(self.disabled_units)
        self.binds = [(str(h), str(n), bool(ro)) for h, n, ro in self.binds]

    # --- addresses and names -------------------------------------------
    def _index(self, node: str) -> int:
        if node not in self.node_names:
            raise ValueError("unknown node %r (known: %s)" % (node, ", ".join(self.node_names)))
        return self.node_names.index(node) + 1

    def node_ip(self, node: str) -> str:
        return "%s.%d" % (self.net, 10 + self._index(node))

    def bmc_ip(self, node: str) -> str:
        return "%s.%d" % (self.net, 20 + self._index(node))

    @property
    def vip(self) -> str:
        return "%s.%d" % (self.net, self.vip_octet)

    @property
    def client_ip(self) -> str:
        return "%s.%d" % (self.net, self.client_octet)

    def netns(self, role: str) -> str:
        """Namespace name for a role: 'sw', 'client', a node name or 'bmcN'."""
        return "%s-%s" % (self.prefix, role)

    def node_netns(self, node: str) -> str:
        return self.netns(node)

    def bmc_netns(self, node: str) -> str:
        return self.netns("bmc%d" % self._index(node))

    def all_netns(self) -> list[str]:
        roles = ["sw", "client"] + list(self.node_names)
        return [self.netns(r) for r in roles] + [self.bmc_netns(n) for n in self.node_names]

    def hosts_file(self, hostname: str = "localhost") -> str:
        """/etc/hosts for nodes and client."""
        lines = [
            "127.0.0.1\tlocalhost",
            "::1\tlocalhost ip6-localhost ip6-loopback",
            "ff02::1\tip6-allnodes",
            "ff02::2\tip6-allrouters",
            "",
            "# xcatha lab",
            "%s\t%s.%s %s" % (self.vip, self.vip_name, self.domain, self.vip_name),
        ]
        lines += ["%s\t%s.%s %s" % (self.node_ip(n), n, self.domain, n) for n in self.node_names]
        lines.append("%s\tclient.%s client" % (self.client_ip, self.domain))
        lines += ["%s.%d\t%s.%s %s" % (self.net, octet, name, self.domain, name) for name, octet, _ in COMPUTE_NODES]
        return "\n".join(lines) + "\n"

    # --- files in the work dir -----------------------------------------
    @property
    def saved_path(self) -> Path:
        return self.workdir / "lab.json"

    @property
    def log_path(self) -> Path:
        return self.workdir / "lab.log"

    @property
    def shared_data(self) -> Path:
        return self.workdir / "HA-data"

    def save(self) -> None:
        data = asdict(self)
        data["workdir"] = str(self.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        tmp = self.saved_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(self.saved_path)

    @classmethod
    def load(cls, path) -> "LabConfig":
        return cls(**json.loads(Path(path).read_text()))

    @classmethod
    def saved_or_default(cls, workdir=None) -> "LabConfig":
        """The config of the lab that was brought up in workdir, else defaults."""
        default = cls() if workdir is None else cls(workdir=Path(workdir))
        if default.saved_path.exists():
            return cls.load(default.saved_path)
        return default
