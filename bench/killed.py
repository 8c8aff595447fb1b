"""(5) A killed service, for one group: kill -9 of one service's main process on the
active node, timed until that service serves again through the VIP.

The main process is the oldest process of the daemon's name (postgres' postmaster,
xcatd's SSL listener, named, dhcpd, conserver, apache2): the stock recipe's pgsql,
named and dhcpd agents run their daemons outside any unit, so systemd's MainPID
would not do for both groups.  "Serving again" is a new main process and the
service's probe from the client answering (pair.PROBES; DHCP: an offer of the
compute node's fixed address).  Ours learn of the death at once (the units' exit
hook, `crm_resource --fail`); the stock recipe at its next monitor.
"""
import time

from lab import pair
from lab.util import log

from . import failover, groups, probes

# our resource -> (pgrep arguments finding the daemon's main process, the probe that shows it serves)
KILLS = {
    "db": (["-o", "-x", "postgres"], "sql"),
    "xcatd": (["-o", "-f", "^xcatd: SSL listener"], "xcatd"),
    "named": (["-o", "-x", "named"], "dns"),
    "dhcpd": (["-o", "-x", "dhcpd"], "dhcp"),
    "conserver": (["-o", "-x", "conserver"], "console"),
    "http": (["-o", "-x", "apache2"], "http"),
}


def services():
    """The services this lab can probe (http only with the real xCAT)."""
    return [name for name, (_, probe) in KILLS.items() if probe in pair.PROBES or probe == "dhcp"]


def main_pid(node, pgrep):
    result = node.exec(["pgrep"] + pgrep, timeout=10)
    return (result.stdout.strip() or None) if result.returncode == 0 else None


def answers(lab, probe):
    if probe == "dhcp":
        offer = probes.dhcp_offer(lab)
        return offer[0] if offer and offer[1] == probes.fixed_address(lab) else None
    return time.monotonic() if pair.PROBES[probe](lab) else None


def trial(lab, group, service, settle=10, timeout=120):
    active = failover.ready(lab, group, settle)
    node = lab.node(active)
    pgrep, probe = KILLS[service]
    pid = main_pid(node, pgrep)
    if not pid:
        raise RuntimeError("no %s process on %s" % (service, active))
    log.info("bench: %s: kill -9 of %s's main process %s on %s", group, service, pid, active)
    killed = time.monotonic()
    node.exec(["kill", "-KILL", pid], timeout=10)
    end, seconds, new = killed + timeout, None, None
    while time.monotonic() < end and seconds is None:
        new = main_pid(node, pgrep) if node.running else None
        if new and new != pid:
            try:
                stamp = answers(lab, probe)
            except Exception as error:  # noqa: BLE001 - a probe may fail while the service restarts
                log.debug("probe %s: %s", probe, error)
                stamp = None
            if stamp is not None:
                seconds = stamp - killed
                break
        time.sleep(0.1)
    now_on = groups.active_node(lab, group)
    log.info("bench: %s: %s serving again after %s s (group on %s)", group, service,
             failover.fmt(seconds), now_on)
    groups.wait_healthy(lab, group)   # failures cleaned up for the next trial
    return {"service": service, "node": active, "killed_pid": pid, "new_pid": new, "serving_again_s": seconds,
            "moved": now_on not in (None, active)}
