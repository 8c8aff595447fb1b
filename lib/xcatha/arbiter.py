"""The arbiter: corosync-qdevice on both hosts, voting through corosync-qnetd on a third host.

Two hosts alone cannot tell a crashed peer from a cut link, so without an arbiter one
fence device waits (``fence_delay``) and that host wins every split, even when the
other one ran the group; a crash of the delayed host pays the delay.  With an arbiter
([quorum] arbiter in cluster.conf) corosync-qnetd gives its vote to one side (algorithm
ffsplit): the side of the node that holds the VIP, whose heuristic passes while the
other side's fails.  The side without the vote loses quorum and fences nobody (Pacemaker
fences only with quorum), so no fence delay is needed: a crash is fenced at once and a
split leaves the node that ran the group.  If the arbiter is down, the two hosts still
have quorum together, but a later crash leaves the survivor without quorum (it waits
for the arbiter or an admin): the price of never guessing.

The device lives in corosync.conf, not in the CIB: pcs sets it up (`pcs quorum device
add`, which also exchanges the TLS certificates through pcsd on the arbiter, so the
arbiter runs pcsd and `pcs qdevice setup model net --enable --start`, and is known to
pcs here: `pcs host auth`).
"""
import shutil

from xcatha import run

ALGORITHM = "ffsplit"
HEURISTIC = "exec_xcatha"
HEURISTICS_MODE = "sync"  # run at each membership change, when the vote is decided
CMAP_PREFIX = "quorum.device."


class ArbiterError(Exception):
    """The quorum device cannot be set as cluster.conf says; the message says why."""


def arbiter(config):
    return config.get("quorum", "arbiter") or None


def xcatha_path():
    return shutil.which("xcatha") or "/usr/sbin/xcatha"


def heuristic_command(config):
    """What corosync-qdevice runs (no shell: it splits on blanks) at each membership change."""
    return "%s cluster-config holds-vip -c %s" % (xcatha_path(), config.path)


def wanted(config):
    """The device cluster.conf asks for, in corosync-cmapctl's key names, or None."""
    host = arbiter(config)
    if not host:
        return None
    device = {"model": "net", "net.host": host, "net.algorithm": ALGORITHM,
              "heuristics.mode": HEURISTICS_MODE, "heuristics." + HEURISTIC: heuristic_command(config)}
    if config.get("quorum", "arbiter_port"):
        device["net.port"] = config.get("quorum", "arbiter_port")
    return device


def current():
    """The running corosync's quorum device as {key below quorum.device.: value}, or None."""
    # the quorum section: `-b quorum.device` fails when there is no device
    result = run.run(["corosync-cmapctl", "-b", "quorum"], timeout=30, quiet=True)
    if not result.ok:
        raise ArbiterError("cannot read corosync's configuration (is the cluster running here?): %s"
                           % result.last_error_line())
    device = {}
    for line in result.stdout.splitlines():
        key, sep, value = line.partition(" = ")
        if sep and key.startswith(CMAP_PREFIX):
            device[key[len(CMAP_PREFIX):].split(" (", 1)[0]] = value
    return device if device.get("model") else None


# The keys we own; votes, timeouts and an admin's own heuristics are theirs.
OWN_KEYS = ("model", "net.host", "net.port", "net.algorithm", "heuristics.mode", "heuristics." + HEURISTIC)


def _differs(device, want):
    return {key for key in OWN_KEYS if device.get(key) != want.get(key)}


def add_command(want):
    options = ["host=" + want["net.host"], "algorithm=" + want["net.algorithm"]]
    if want.get("net.port"):
        options.append("port=" + want["net.port"])
    return ["quorum", "device", "add", "model", "net", *options,
            "heuristics", "mode=" + want["heuristics.mode"], "%s=%s" % (HEURISTIC, want["heuristics." + HEURISTIC])]


def plan(config, device):
    """(pcs commands without `pcs`, whether they remove something) to go from device to what
    cluster.conf wants."""
    want = wanted(config)
    if want is None:
        return ([["quorum", "device", "remove"]], True) if device else ([], False)
    if device is None:
        return [add_command(want)], False
    changed = _differs(device, want)
    if not changed:
        return [], False
    if changed & {"model", "net.host", "net.port"}:
        # another qnetd needs new certificates, which only `add` sets up
        return [["quorum", "device", "remove"], add_command(want)], True
    commands = []
    if "net.algorithm" in changed:
        commands.append(["quorum", "device", "update", "model", "algorithm=" + want["net.algorithm"]])
    if changed & {"heuristics.mode", "heuristics." + HEURISTIC}:
        commands.append(["quorum", "device", "update", "heuristics", "mode=" + want["heuristics.mode"],
                         "%s=%s" % (HEURISTIC, want["heuristics." + HEURISTIC])])
    return commands, False


def run_pcs(command):
    result = run.run(["pcs", *command], timeout=300)
    if not result.ok:
        hint = ""
        if command[:3] == ["quorum", "device", "add"]:
            hint = (" (the arbiter must run pcsd and corosync-qnetd: `pcs qdevice setup model net --enable "
                    "--start` there, `pcs host auth` it from here)")
        raise ArbiterError("pcs %s: %s%s" % (" ".join(command[:3]), result.last_error_line(), hint))


def holds_vip(config):
    """The heuristic: this host holds the VIP (it runs the group clients see)."""
    from xcatha import vip
    return config.get("vip", "ip") in vip.local_addresses()
