"""The Pacemaker configuration of the pair: one config file in, the group xcatmn out.

Two layouts ([timings] layout in cluster.conf):

- ``parallel`` (the default): the group xcatmn holds the chain whose order matters —
  vip, shared-data, db, xcatd — and the services that only need xcatd (named, dhcpd,
  conserver, http) are primitives of their own, each colocated with xcatmn and ordered
  after it by one ordering set whose second set is non-sequential: they start together
  once xcatd runs.  The order is not symmetrical: they stop together with the chain, not
  before it -- none of them needs xcatd, the database, the links or the VIP to stop, so a
  move no longer waits for the console server's second-long stop before xcatd's, and a
  restart of a chain member (a killed xcatd, a failed database) leaves them serving.  The
  admin still moves one thing (`pcs resource move xcatmn NODE`): the services follow
  through their colocation, and the colocation's influence (on by default) lets a service
  that cannot run on a node (migration-threshold reached) move xcatmn, as a group member
  does.  Why this chain:
  the database needs the shared data and listens on the VIP (pgsqlsetup's
  listen_addresses; PostgreSQL binds only at start), xcatd needs the database, and
  makedns -n / makedhcp -n / makeconservercf ask xcatd; named binds the addresses it
  finds at start and the agent checks it at the VIP, which the chain holds by then.
  Apache serves /install from the shared data only, but it is off the critical path
  (makedhcp's 5 s end later), so it waits for the chain with the others rather than
  adding a constraint of its own.
- ``group``: all eight in one group, one after another, the textbook shape.

`apply` moves an existing pair from one layout to the other without restarting a
service: a primitive that leaves or joins the group keeps its id, its agent and its
parameters, so Pacemaker sees the same resource, already running where it runs.

Never a blind edit of the live cluster: the wanted configuration is rendered
with ``pcs -f`` into a copy of the live CIB (so pcs takes each agent's op
timeouts and intervals from its meta-data), compared with ``crm_diff``, and
only the difference is pushed with ``cibadmin --patch``.  A second apply finds
no difference and changes nothing.  An admin's own constraints
naming the group, target-role/is-managed, agent parameters the config file does
not set and op timeouts are kept; a difference that would delete anything is
shown and needs --force.  The same commands can be exported as a pcs script.
"""
import configparser
import os
import shlex
import shutil
import tempfile
import xml.etree.ElementTree as ET

from xcatha import arbiter, run
from xcatha.log import REDACTED, log

GROUP = "xcatmn"
MEMBERS = ("vip", "shared-data", "db", "xcatd", "named", "dhcpd", "conserver", "http")
CHAIN = MEMBERS[:4]     # in the group in either layout: each needs the one before
SERVICES = MEMBERS[4:]  # need xcatd only: started together after the chain (layout parallel)
LAYOUTS = ("parallel", "group")
ORDER_ID = "xcatmn-then-services"
COLOCATION_ID = "services-with-xcatmn"
KEPT_META = ("target-role", "is-managed", "maintenance")
DEFAULT_PATH = "/etc/xcatha/cluster.conf"


class ConfigError(Exception):
    """The config file is wrong; the message says where and how."""


class Node:
    def __init__(self, name, address, fence):
        self.name, self.address, self.fence = name, address, fence

    @property
    def fence_id(self):
        return "fence-" + self.name


class PairConfig:
    def __init__(self, values, nodes, path):
        self.values, self.nodes, self.path = values, nodes, path

    def get(self, section, key, default=None):
        return self.values.get(section, {}).get(key, default)


REQUIRED = {"vip": ("ip", "hostname", "fqdn"), "shared": ("dir",), "database": ("engine",),
            "console": ("type",)}
ENGINES = ("postgresql", "mysql", "sqlite")


# What each value must be: the agents' own parameter types, and Pacemaker's for the timings.
# A key not listed is passed on as it is (fence_* options are the fence agent's to check).
def _types():
    from xcatha import ocf
    score = _Score()
    return {
        ("vip", "ip"): ocf.IPAddress(), ("vip", "cidr_netmask"): ocf.Integer(1, 128),
        ("vip", "nic"): ocf.InterfaceName(), ("vip", "hostname"): ocf.Hostname(), ("vip", "fqdn"): ocf.Hostname(),
        ("shared", "dir"): ocf.AbsolutePath(), ("shared", "require_mount"): ocf.Boolean(),
        ("database", "engine"): ocf.Choice(*ENGINES), ("database", "unit"): ocf.UnitName(),
        ("database", "datadir"): ocf.AbsolutePath(),
        ("dhcpd", "config"): ocf.AbsolutePath(), ("dhcpd", "unit"): ocf.UnitName(),
        ("console", "type"): ocf.Choice("conserver", "goconserver"), ("console", "port"): ocf.Integer(1, 65535),
        ("console", "unit"): ocf.UnitName(), ("dhcp", "backend"): ocf.Choice("isc", "kea"),
        ("named", "unit"): ocf.UnitName(), ("xcatd", "port"): ocf.Integer(1, 65535), ("xcatd", "tftp"): ocf.Boolean(),
        ("timings", "resource_stickiness"): score, ("timings", "migration_threshold"): _Score(minimum=0),
        ("timings", "failure_timeout"): _Duration(), ("timings", "layout"): ocf.Choice(*LAYOUTS),
        ("timings", "start_failure_is_fatal"): ocf.Boolean(),
        ("quorum", "arbiter_port"): ocf.Integer(1, 65535),
        ("node", "address"): ocf.IPAddress(), ("node", "fence_agent"): _FenceAgent(),
        ("node", "fence_delay"): _Duration(),
    }


class _Score:
    """A Pacemaker score: an integer within +-1000000 (Pacemaker's INFINITY), or INFINITY."""

    def __init__(self, minimum=-1000000):
        self.minimum = minimum

    def check_text(self, text):
        if text.strip().lstrip("+-").upper() == "INFINITY" and not (self.minimum >= 0 and text.strip()[0] == "-"):
            return text.strip()
        try:
            value = int(text.strip(), 10)
        except ValueError:
            raise ValueError("is not an integer or INFINITY") from None
        if not self.minimum <= value <= 1000000:
            raise ValueError("is outside %d..1000000 (use INFINITY for more)" % self.minimum)
        return value


class _Duration:
    """A Pacemaker interval: digits and an optional unit (10min, 30s, 500ms, 2h)."""

    UNITS = ("", "ms", "msec", "us", "usec", "s", "sec", "m", "min", "h", "hr")

    def check_text(self, text):
        value = text.strip()
        digits = len(value) - len(value.lstrip("0123456789"))
        if not 0 < digits <= 9 or value[digits:] not in self.UNITS:
            raise ValueError("is not a duration (e.g. 10min, 30s, 500ms)")
        return value


class _FenceAgent:
    def check_text(self, text):
        if not text.startswith("fence_") or len(text) > 64 or not text.replace("_", "").replace("-", "").isalnum() \
                or not text.isascii():
            raise ValueError("is not a fence agent's name (fence_ipmilan, fence_redfish, ...)")
        return text


def load(path=DEFAULT_PATH):
    """The pair's config file, checked: every error is one ConfigError saying where."""
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"))
    try:
        with open(path, encoding="utf-8") as stream:
            mode = os.fstat(stream.fileno()).st_mode & 0o777
            parser.read_file(stream)
    except OSError as error:
        raise ConfigError("cannot read %s: %s" % (path, error.strerror)) from None
    except UnicodeDecodeError as error:
        raise ConfigError("%s: not UTF-8 text: byte 0x%02x at offset %d" % (path, error.object[error.start],
                                                                          error.start)) from None
    except configparser.Error as error:
        raise ConfigError("%s: %s" % (path, str(error).splitlines()[0])) from None
    except ValueError as error:   # a NUL in the path
        raise ConfigError("cannot read %r: %s" % (path, error)) from None
    if mode & 0o077 and any(is_secret_key(key) for section in parser.sections() for key in parser[section]):
        raise ConfigError("%s holds fence passwords but its mode is %04o: run chmod 600 %s (and check who may "
                          "have read it)" % (path, mode, path))
    values = {section: dict(parser[section]) for section in parser.sections() if not section.startswith("node ")}
    for section, keys in REQUIRED.items():
        for key in keys:
            if not values.get(section, {}).get(key):
                raise ConfigError("%s: [%s] %s is required" % (path, section, key))
    types = _types()
    for section, items in values.items():   # checked; the text is kept as it is (the CIB holds it)
        for key, value in items.items():
            _checked(path, section, key, value, types.get((section, key)))
    vip = _checked(path, "vip", "ip", values["vip"]["ip"], types[("vip", "ip")])
    prefix = values["vip"].get("cidr_netmask")
    if prefix is not None and int(prefix) > vip.max_prefixlen:
        raise ConfigError("%s: [vip] cidr_netmask=%s is too long for %s" % (path, prefix, vip))
    if "files" in values.get("sync", {}):
        from xcatha import file_sync
        try:
            file_sync.parse_files(values["sync"]["files"])
        except file_sync.SyncError as error:
            raise ConfigError("%s: %s" % (path, error)) from None
    nodes = []
    for section in parser.sections():
        if not section.startswith("node "):
            continue
        nodes.append(_node(path, section, dict(parser[section]), types, vip, prefix))
    if len(nodes) != 2:
        raise ConfigError("%s: exactly two [node NAME] sections are required, found %d" % (path, len(nodes)))
    if nodes[0].name.lower() == nodes[1].name.lower():   # Pacemaker compares node names so
        raise ConfigError("%s: both [node] sections name %s: each host needs its own" % (path, nodes[0].name))
    if nodes[0].address == nodes[1].address:
        raise ConfigError("%s: both nodes have the address %s: each host needs its own" % (path, nodes[0].address))
    _check_arbiter(path, values.get("quorum", {}), nodes)
    config = PairConfig(values, nodes, path)
    from xcatha import backup
    backup.settings(config)  # [backup] is checked here: a bad value is one line before anything runs
    return config


def _check_arbiter(path, quorum, nodes):
    if not quorum.get("arbiter"):
        return
    delayed = [node.name for node in nodes if node.fence.get("delay")]
    if delayed:
        raise ConfigError("%s: [node %s] fence_delay with [quorum] arbiter: the arbiter decides a split, so a fence "
                          "delay would only slow down every failover; remove fence_delay" % (path, delayed[0]))
    if not quorum.get("arbiter_port", "5403").isdigit():
        raise ConfigError("%s: [quorum] arbiter_port must be a port number" % path)


def _checked(path, section, key, value, kind=None):
    """value (text) checked: one line, no control character, not huge, and of its type."""
    from xcatha import ocf
    try:
        text = ocf.String().check_text(value)
        return text if kind is None else kind.check_text(text)
    except ValueError as error:
        shown = value if len(value) <= 60 and value.isprintable() else repr(value[:60]) + ("..." if len(value) > 60
                                                                                            else "")
        hint = HINTS.get((section, key))
        raise ConfigError("%s: [%s] %s=%s %s%s" % (path, section, key, shown, error, " (%s)" % hint if hint else "")) \
            from None


HINTS = {("dhcp", "backend"): "the DHCP server site.dhcpbackend makes xCAT drive",
         ("database", "engine"): "must match /etc/xcat/cfgloc",
         ("vip", "cidr_netmask"): "the prefix length of the VIP's network, e.g. 24"}


def _node(path, section, items, types, vip, prefix):
    """One [node NAME] section: a host name, its address (in the VIP's network), its fencing."""
    from xcatha import ocf
    name = section[len("node "):].strip()
    try:
        name = ocf.Hostname().check_text(name)
    except ValueError:
        raise ConfigError("%s: [%s]: %r is not a host name" % (path, section, name)) from None
    if not items.get("address"):
        raise ConfigError("%s: [%s] address is required" % (path, section))
    for key, value in items.items():
        _checked(path, section, key, value, types.get(("node", key)))
    address = _checked(path, section, "address", items["address"], types[("node", "address")])
    if address.version != vip.version:
        raise ConfigError("%s: [%s] address=%s and the VIP %s are not of one IP version" % (path, section, address,
                                                                                           vip))
    if address == vip:
        raise ConfigError("%s: [%s] address=%s is the VIP itself: each host needs its own" % (path, section, address))
    if prefix is not None:
        import ipaddress
        network = ipaddress.ip_interface("%s/%s" % (vip, prefix)).network
        if address not in network:
            raise ConfigError("%s: [%s] address=%s is outside the VIP's network %s: the VIP moves between the "
                              "hosts on one network" % (path, section, address, network))
    fence = {key[len("fence_"):]: value for key, value in items.items() if key.startswith("fence_")}
    if not fence.get("agent"):
        raise ConfigError("%s: [%s] fence_agent is required: a pair without fencing cannot fail over "
                          "safely" % (path, section))
    return Node(name, items["address"], fence)


# ---------------------------------------------------------------- what to create
# Fence-agent options that hold a secret, or name the script that prints one (fence agents'
# passwd, password, passwd_script, snmp_priv_passwd, snmp_priv_passwd_script, ...; community).
SECRET_WORDS = ("passw", "community")


def is_secret_key(key):
    return any(word in key.lower() for word in SECRET_WORDS)


def resource_params(config):
    """The group's members in start order with their agents' parameters: what the cluster
    runs and what `xcatha activate` runs by hand."""
    vip = config.values["vip"]
    engine = config.get("database", "engine")
    shared = {"shared_dir": config.get("shared", "dir"), "engine": engine}
    if config.get("shared", "require_mount"):
        shared["require_mount"] = config.get("shared", "require_mount")
    vip_params = {"ip": vip["ip"], "hostname": vip["hostname"]}
    vip_params.update({key: vip[key] for key in ("cidr_netmask", "nic") if vip.get(key)})
    params = {
        "vip": vip_params,
        "shared-data": shared,
        "db": {"engine": engine},
        "xcatd": {key: value for key, value in config.values.get("xcatd", {}).items() if key in ("tftp",)},
        "named": {"ip": vip["ip"], "hostname": vip["fqdn"]},
        # always explicit: an omitted backend would pass for an admin's own parameter, which
        # apply keeps, so going back from kea to isc would leave the agent driving Kea
        "dhcpd": {"backend": dhcp_backend(config)},
        "conserver": {"console": config.get("console", "type")},
        "http": {},
    }
    for (section, key), (member, parameter) in SITE_PARAMETERS.items():
        if config.get(section, key):
            params[member][parameter] = config.get(section, key)
    if config.get("sync", "files") is not None:  # present but empty: nothing follows the MN
        params["shared-data"]["sync_files"] = " ".join(config.get("sync", "files").split()) or "none"
    assert tuple(params) == MEMBERS
    return params


# What a site may have to set for an agent: cluster.conf [section] key -> (member, parameter).
SITE_PARAMETERS = {
    ("database", "unit"): ("db", "unit"), ("database", "datadir"): ("db", "datadir"),
    ("dhcpd", "config"): ("dhcpd", "config"), ("dhcpd", "unit"): ("dhcpd", "unit"),
    ("console", "port"): ("conserver", "port"), ("console", "unit"): ("conserver", "unit"),
    ("named", "unit"): ("named", "unit"), ("xcatd", "port"): ("xcatd", "port"),
}


def sync_files(config):
    """The files that follow the active MN ([sync] files; file_sync's defaults without it)."""
    from xcatha import file_sync
    return file_sync.parse_files(config.get("sync", "files"))


def require_mount(config):
    return config.get("shared", "require_mount", "true").lower() in ("1", "true", "yes", "on")


def cfgloc_path(config):
    """The cfgloc in the shared data (where /etc/xcat/cfgloc points while linked)."""
    return config.get("shared", "dir").rstrip("/") + "/etc/xcat/cfgloc"


def dhcp_backend(config):
    """isc or kea: the DHCP server site.dhcpbackend makes xCAT drive ([dhcp] backend)."""
    return config.get("dhcp", "backend", "isc")


def local_node(config, addresses, hostname):
    """This host's [node NAME] section: by an address it holds, else by its own name."""
    for node in config.nodes:
        if node.address in addresses:
            return node
    for node in config.nodes:
        if node.name == hostname:
            return node
    raise ConfigError("this host (%s) is none of the nodes in %s" % (hostname, config.path))


def peer_of(config, node):
    return next(other for other in config.nodes if other is not node)


def fence_options(node):
    """The fence agent's options from fence_* keys, without the agent itself and the delay."""
    return {key: value for key, value in node.fence.items() if key not in ("agent", "delay")}


def layout(config):
    """parallel or group ([timings] layout): see the module's docstring."""
    return config.get("timings", "layout", "parallel")


def grouped(config):
    """The members inside the group xcatmn, in start order."""
    return MEMBERS if layout(config) == "group" else CHAIN


def pcs_commands(config, with_secrets=True):
    """The pcs commands (without -f) that build the pair's configuration."""
    timings = config.values.get("timings", {})
    in_group = grouped(config)
    commands = []
    for node in config.nodes:
        options = ["%s=%s" % item for item in sorted(fence_options(node).items())
                   if with_secrets or not is_secret_key(item[0])]
        if node.fence.get("delay"):
            options.append("pcmk_delay_base=%s" % node.fence["delay"])
        commands.append(["stonith", "create", node.fence_id, node.fence["agent"], *options,
                         "pcmk_host_list=%s" % node.name, "op", "monitor", "interval=60s"])
        commands.append(["constraint", "location", node.fence_id, "avoids", node.name])
    meta = ["resource-stickiness=%s" % timings.get("resource_stickiness", "100"),
            "migration-threshold=%s" % timings.get("migration_threshold", "3"),
            "failure-timeout=%s" % timings.get("failure_timeout", "10min")]
    for name, params in resource_params(config).items():
        options = ["%s=%s" % item for item in params.items()]
        # a group member inherits the group's meta attributes; a service beside the group has its
        # own, given at create (one pcs run each is most of apply's time)
        own = ["--group", GROUP] if name in in_group else ["meta", *meta]
        commands.append(["resource", "create", name, "ocf:xcat:" + name, *options, *own])
    commands.append(["resource", "meta", GROUP, *meta])
    tail = [name for name in MEMBERS if name not in in_group]
    if tail:
        commands.append(["constraint", "order", "set", GROUP, "set", *tail, "sequential=false",
                         "setoptions", "id=" + ORDER_ID, "symmetrical=false"])
        commands.append(["constraint", "colocation", "set", *tail, "sequential=false", "set", GROUP,
                         "setoptions", "score=INFINITY", "id=" + COLOCATION_ID])
    # Pacemaker's default start-failure-is-fatal (true) bans a resource from a node after one failed
    # start there: an only survivor, its peer dead for good, whose takeover met a transient failure
    # (a daemon killed mid-start) would run no MN until failure-timeout.  false: a failed start
    # counts once toward migration-threshold, as a failed monitor does; hard errors (rc 2, 5, 6)
    # still ban at once.
    from xcatha.ocf import Boolean
    fatal = "true" if Boolean().convert(timings.get("start_failure_is_fatal", "false")) else "false"
    commands.append(["property", "set", "stonith-enabled=true", "start-failure-is-fatal=" + fatal])
    commands.append(alert_command(config))
    return commands


ALERT_ID = "xcatha-alert"
ALERT_PATH = "/usr/share/xcatha/alert"


def alert_command(config):
    """The alert agent that announces each failover ([alert] recipient: whom it mails too).  The
    addresses are an option of the one alert, not its recipients: Pacemaker calls an alert once per
    recipient, and the syslog line must be written once."""
    command = ["alert", "create", "path=%s" % ALERT_PATH, "id=%s" % ALERT_ID,
               "description=xcatha: one syslog line per failover of %s" % GROUP]
    recipient = config.get("alert", "recipient")
    if recipient:
        command += ["options", "mail_to=%s" % recipient]
    return command


# ---------------------------------------------------------------- render, diff, push
def _owned_ids(config):
    return {GROUP, *MEMBERS, *(node.fence_id for node in config.nodes)}


def _own_constraint_ids(config):
    """The constraints pcs_commands creates (pcs's ids for `location F avoids N`): the only ones
    apply may rebuild.  Every other constraint naming the group is an admin's."""
    return {"location-%s-%s--INFINITY" % (node.fence_id, node.name) for node in config.nodes} | {
        ORDER_ID, COLOCATION_ID}


def _admin_settings(root, config):
    """What an admin set on our resources that the config file does not say: meta attributes
    (target-role, ...), agent parameters the config leaves alone, and op timeouts."""
    params = resource_params(config)
    for node in config.nodes:
        # the delay is ours even when the config sets none (fence_delay removed, or an arbiter)
        params[node.fence_id] = dict(fence_options(node), pcmk_host_list=node.name,
                                     pcmk_delay_base=node.fence.get("delay"))
    kept = {}
    for element in root.iter():
        identifier = element.get("id")
        if element.tag not in ("group", "primitive") or identifier not in _owned_ids(config):
            continue
        settings = kept.setdefault(identifier, {"meta": {}, "instance": {}, "ops": {}})
        for nvpair in element.findall("./meta_attributes/nvpair"):
            if nvpair.get("name") in KEPT_META:
                settings["meta"][nvpair.get("name")] = nvpair.get("value")
        ours = params.get(identifier, {})
        for nvpair in element.findall("./instance_attributes/nvpair"):
            if nvpair.get("name") not in ours and not is_secret_key(nvpair.get("name", "")):
                settings["instance"][nvpair.get("name")] = nvpair.get("value")
        for op in element.findall("./operations/op"):
            if op.get("timeout"):
                settings["ops"][(op.get("name"), op.get("interval"))] = op.get("timeout")
    return kept


def purge(root, config):
    """Remove our resources and the constraints xcatha itself creates on them.  Returns every
    other constraint that names them (an admin's: move/ban, colocation with storage, location
    preferences), to be put back once the resources are rebuilt: the CIB's schema does not
    let a constraint name a resource that is not there."""
    owned = _owned_ids(config)
    configuration = root.find("configuration")
    resources = configuration.find("resources")
    for element in list(resources):
        if element.get("id") in owned:
            resources.remove(element)
    alerts = configuration.find("alerts")
    for element in list(alerts if alerts is not None else []):
        if element.get("id") == ALERT_ID:
            alerts.remove(element)
    constraints = configuration.find("constraints")
    own_constraints = _own_constraint_ids(config)
    kept = []
    for element in list(constraints):
        referenced = {element.get(key) for key in ("rsc", "first", "then", "with-rsc")}
        referenced |= {ref.get("id") for ref in element.iter("resource_ref")}
        if referenced & owned:
            constraints.remove(element)
            if element.get("id") not in own_constraints:
                kept.append(element)
    return kept


def _restore(root, kept, fence_secrets, constraints):
    root.find("configuration").find("constraints").extend(constraints)
    for element in root.iter():
        if element.tag not in ("group", "primitive"):
            continue
        identifier = element.get("id")
        settings = kept.get(identifier, {})
        for name, value in settings.get("meta", {}).items():
            _set_nvpair(element, "meta_attributes", identifier + "-meta_attributes", name, value)
        for name, value in settings.get("instance", {}).items():
            _set_nvpair(element, "instance_attributes", identifier + "-instance_attributes", name, value)
        for name, value in fence_secrets.get(identifier, {}).items():
            _set_nvpair(element, "instance_attributes", identifier + "-instance_attributes", name, value)
        for op in element.findall("./operations/op"):
            timeout = settings.get("ops", {}).get((op.get("name"), op.get("interval")))
            if timeout:
                op.set("timeout", timeout)


def _set_nvpair(element, block_tag, block_id, name, value):
    block = element.find(block_tag)
    if block is None:
        block = ET.SubElement(element, block_tag, id=block_id)
    for nvpair in block.findall("nvpair"):
        if nvpair.get("name") == name:
            nvpair.set("value", value)
            return
    ET.SubElement(block, "nvpair", id="%s-%s" % (block_id, name), name=name, value=value)


def render(config, live_path, new_path):
    """Write into new_path the live CIB with our configuration rebuilt by pcs -f."""
    tree = ET.parse(live_path)  # noqa: S314 - the CIB of our own cluster, from cibadmin
    kept = _admin_settings(tree.getroot(), config)
    constraints = purge(tree.getroot(), config)
    tree.write(new_path)
    for command in pcs_commands(config, with_secrets=False):
        result = run.run(["pcs", "-f", new_path, *command], timeout=120)
        if not result.ok:
            raise ConfigError("pcs %s: %s" % (" ".join(command[:3]), result.last_error_line()))
    # Fence passwords go into the file here rather than through pcs's argv, which `ps` shows.
    secrets = {node.fence_id: {key: value for key, value in fence_options(node).items() if is_secret_key(key)}
               for node in config.nodes}
    tree = ET.parse(new_path)  # noqa: S314 - written by pcs just above
    _restore(tree.getroot(), kept, secrets, constraints)
    tree.write(new_path)


def register_secrets(config, out=print):
    """Fence secrets become secrets of the log and the argv check.  One that equals a value
    in the clear (a BMC password that is its user name) is no secret to protect: it is not
    registered, so the user name can still be passed, and the admin is told."""
    for node in config.nodes:
        options = fence_options(node)
        public = {value for key, value in options.items() if not is_secret_key(key)} | {node.name, node.address}
        for key, value in options.items():
            if not is_secret_key(key) or not value:
                continue
            if value in public:
                out("warning: the fence %s of %s equals one of its other settings (its user name?): choose a "
                    "real password for its BMC" % (key, node.name))
                continue
            log.add_secret(value)


def masked(patch):
    """The patch with every secret nvpair's value hidden, registered as a secret or not."""
    try:
        root = ET.fromstring(patch)  # noqa: S314 - crm_diff's output
    except ET.ParseError:
        return patch
    for nvpair in root.iter("nvpair"):
        if is_secret_key(nvpair.get("name", "")):
            nvpair.set("value", REDACTED)
    return ET.tostring(root, encoding="unicode")


def diff(live_path, new_path):
    """crm_diff's patch, or None when nothing differs."""
    result = run.run(["crm_diff", "--no-version", "--original", live_path, "--new", new_path], timeout=60,
                     quiet=True)
    if result.rc == 0:
        return None
    if result.rc == 1:
        return result.stdout
    raise ConfigError("crm_diff failed: %s" % result.last_error_line())


def removals(patch, own=(ORDER_ID, COLOCATION_ID)):
    """What the patch deletes from the live CIB (crm_diff's format 2: <change operation="delete">).
    An element deleted in one place and created in another (a primitive leaving or joining
    the group when the layout changes) is moved, not removed; nor are the constraints of the
    parallel layout (own), which a change to the group layout drops."""
    try:
        root = ET.fromstring(patch)  # noqa: S314 - crm_diff's output
    except ET.ParseError:
        return []
    created = {element.get("id") for change in root.iter("change") if change.get("operation") == "create"
               for element in change}  # the created elements themselves, not what they refer to
    return [change.get("path", "?") for change in root.iter("change") if change.get("operation") == "delete"
            and _last_id(change.get("path", "")) not in created | set(own)]


def _last_id(path):
    """"/cib/.../group[@id='xcatmn']/primitive[@id='named']" -> "named"."""
    marker = "[@id='"
    start = path.rfind(marker)
    return path[start + len(marker):path.index("'", start + len(marker))] if start >= 0 and path.endswith("']") \
        else None


def apply(config, dry_run=False, out=print, force=False):
    """Render, diff, push; returns True when the live configuration changed.  A difference that
    deletes something from the live configuration is shown and needs force.  The quorum device
    (corosync.conf, through pcs) is set before the CIB loses its fence delays and removed only
    after they are back, so that a split never meets a pair with neither."""
    register_secrets(config, out)
    quorum, quorum_removes = arbiter.plan(config, arbiter.current())
    if quorum_removes and not force and not dry_run:
        for command in quorum:
            out("would run: pcs %s" % " ".join(command))
        raise ConfigError("applying %s would remove the quorum device (listed above); nothing was changed. "
                          "Check it, then run again with --force" % config.path)
    adding = arbiter.wanted(config) is not None
    cib_changed = _apply_cib(config, dry_run, out, force,
                             before=lambda: _quorum(quorum if adding else [], dry_run, out))
    _quorum([] if adding else quorum, dry_run, out)
    return cib_changed or bool(quorum and not dry_run)


def _quorum(commands, dry_run, out):
    """Run (or, dry, show) the quorum device's pcs commands; True when there were any."""
    for command in commands:
        if dry_run:
            out("would run: pcs %s" % " ".join(command))
            continue
        arbiter.run_pcs(command)
        out("Ran: pcs %s" % " ".join(command))
    return bool(commands)


def _apply_cib(config, dry_run, out, force, before):
    """The CIB part of apply; before() runs once the patch is known to be allowed, before it is pushed."""
    workdir = tempfile.mkdtemp(prefix="xcatha-cib-")
    try:
        live, new, patch = (os.path.join(workdir, name) for name in ("live.xml", "new.xml", "patch.xml"))
        result = run.run(["cibadmin", "--query"], timeout=60)
        if not result.ok:
            raise ConfigError("cannot read the live CIB (is the cluster running here?): %s"
                              % result.last_error_line())
        with open(live, "w", encoding="utf-8") as stream:
            stream.write(result.stdout)
        render(config, live, new)
        changes = diff(live, new)
        if changes is None:
            if before():
                out("The CIB is already as %s describes." % config.path)
            else:
                out("The cluster configuration is already as %s describes; nothing to change." % config.path)
            return False
        if dry_run:
            before()
            out(log.redact(masked(changes)))
            out("(dry run: nothing was changed)")
            return False
        deleted = removals(changes)
        if deleted and not force:
            for path in deleted:
                out("would remove: %s" % path)
            raise ConfigError("applying %s would remove %d thing(s) from the live configuration (listed above); "
                              "nothing was changed. Check them, then run again with --force"
                              % (config.path, len(deleted)))
        before()
        with open(patch, "w", encoding="utf-8") as stream:
            stream.write(changes)
        result = run.run(["cibadmin", "--patch", "--xml-file", patch], timeout=120)
        if not result.ok:
            raise ConfigError("cibadmin --patch failed: %s" % result.last_error_line())
        verify = run.run(["crm_verify", "--live-check"], timeout=60)
        if not verify.ok:
            raise ConfigError("crm_verify -L reports: %s" % verify.last_error_line())
        out("Applied %s to the cluster." % config.path)
        return True
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def export_script(config):
    """The same configuration as a pcs script for admins who run the commands themselves."""
    lines = ["#!/bin/sh",
             "# xCAT MN HA pair from %s, as pcs commands (xcatha cluster-config export)." % config.path,
             "# Edits a copy of the CIB and pushes only the difference; review before running.",
             "set -eu",
             'cib=$(mktemp); pcs cluster cib "$cib"; cp "$cib" "$cib.new"']
    for command in pcs_commands(config, with_secrets=True):
        lines.append('pcs -f "$cib.new" ' + " ".join(shlex.quote(arg) for arg in command))
    want = arbiter.wanted(config)
    if want:
        lines.append("# the arbiter (corosync.conf): before the CIB without fence delays")
        lines.append("pcs " + " ".join(shlex.quote(arg) for arg in arbiter.add_command(want)))
    lines.append('pcs cluster cib-push "$cib.new" diff-against="$cib"')
    lines.append('rm -f "$cib" "$cib.new"')
    return "\n".join(lines) + "\n"
