"""Manual failover: activate and deactivate this host as the MN, by running the agents' own
start and stop actions in group order (the seed's activate-xcatmn / deactivate-xcatmn).

Without Pacemaker nothing fences the other host, so activation first proves the peer is not
the MN: no lease of the peer on the shared data (a clean stop releases it) and nobody
answering for the VIP — or else the peer's fence device reports it off (or `--fence-peer`
powers it off).  Activation stops at the first failure and stops again what it started,
the failed member included.  Deactivation stops in reverse order and stops at the first
member that fails to stop, keeping what the still-running services need (VIP, links).
"""
import ipaddress
import os
import socket

from xcatha import cluster_config, run, shared_data, units, vip
from xcatha.log import log

OCF_ROOT = "/usr/lib/ocf"
AGENT_DIR = OCF_ROOT + "/resource.d/xcat"
# The agents bound themselves by the timeouts their meta-data declares; this only catches an
# agent that hangs beyond its own deadline.
AGENT_CEILING = 600
SERVICES = {"db": None, "xcatd": "xcatd", "named": "named", "dhcpd": "dhcpd"}
FENCE_TIMEOUT = 120


class ActivationError(Exception):
    """Activation or deactivation failed; the message says where and why."""


def run_agent(name, action, params, logfile=None, probe=False):
    """One agent action, as Pacemaker would run it; returns (rc, exit reason)."""
    env = {"OCF_ROOT": OCF_ROOT, "OCF_RESOURCE_INSTANCE": name, "__OCF_ACTION": action}
    if logfile:
        env["HA_LOGFILE"] = logfile
    if action == "monitor" and not probe:
        env["OCF_RESKEY_CRM_meta_interval"] = "10000"
    env.update({"OCF_RESKEY_" + key: str(value) for key, value in params.items()})
    try:
        result = run.run([os.path.join(AGENT_DIR, name), action], env=env, timeout=AGENT_CEILING)
    except run.CommandTimeout:
        return 1, "%s %s did not finish within %ds" % (name, action, AGENT_CEILING)
    except FileNotFoundError:
        return 5, "the agent %s is not installed in %s" % (name, AGENT_DIR)
    reasons = [line.split(":", 1)[1] for line in result.stderr.splitlines()
               if line.startswith("ocf-exit-reason:")]
    return result.rc, reasons[-1] if reasons else ""


def pacemaker_manages_group():
    """True when a running cluster here has the group in its configuration."""
    try:
        result = run.run(["cibadmin", "--query", "--scope", "resources"], timeout=10, quiet=True)
    except (FileNotFoundError, run.CommandTimeout):
        return False
    return result.ok and ('id="%s"' % cluster_config.GROUP) in result.stdout


def refuse_if_managed(force):
    if pacemaker_manages_group() and not force:
        raise ActivationError("Pacemaker manages the group %s here: move it with `pcs resource move %s "
                              "<node>` (or use --force to act behind the cluster's back)"
                              % (cluster_config.GROUP, cluster_config.GROUP))


def describe(params):
    return " ".join("%s=%s" % item for item in params.items()) or "(defaults)"


# ---------------------------------------------------------------- is the peer down?
def whoami(config):
    node = cluster_config.local_node(config, vip.local_addresses(), shared_data.own_name())
    return node, cluster_config.peer_of(config, node)


def _same_host(name, node):
    return name is not None and name.split(".")[0] == node.name.split(".")[0]


def peer_evidence(config, me, peer):
    """Why the peer may still be the MN (empty: nothing says it is)."""
    shared_dir = config.get("shared", "dir")
    evidence = []
    holder = shared_data.lease_holder(shared_dir)
    if holder is not None and not _same_host(holder, me):
        evidence.append("the shared data's lease (%s) names %s: it linked the shared data and never released "
                        "it" % (os.path.join(shared_dir, shared_data.LEASE_NAME), holder))
    address = ipaddress.ip_address(config.get("vip", "ip"))
    links = vip.read_links()
    if not vip.find(address, links) and address.version == 4:
        nic = config.get("vip", "nic") or vip.derive_nic(address, links)[0]
        if nic:
            conflict = vip.arp_probe(nic, address, **vip.RFC5227_PROBE)
            if conflict:
                evidence.append("another host (MAC %s) answers for the VIP %s" % (conflict, address))
    return evidence


def fence(node, action):
    """Run the node's fence agent from cluster.conf; options (the password too) on its stdin, never argv."""
    options = dict(cluster_config.fence_options(node), action=action)
    text = "".join("%s=%s\n" % item for item in sorted(options.items()))
    try:
        return run.run([node.fence["agent"]], input=text, timeout=FENCE_TIMEOUT)
    except FileNotFoundError:
        raise ActivationError("the fence agent %s of %s is not installed here" % (node.fence["agent"], node.name)) \
            from None
    except run.CommandTimeout:
        raise ActivationError("the fence device of %s did not answer within %ds" % (node.name, FENCE_TIMEOUT)) \
            from None


def power_state(node):
    """'on' or 'off' as the fence device reports (fence agents: status rc 0 on, 2 off), else None."""
    result = fence(node, "status")
    text = result.stdout.lower()
    if result.rc == 2 or "status: off" in text:
        return "off"
    if result.rc == 0 and "status: on" in text:
        return "on"
    return None


def prove_peer_down(config, out, fence_peer=False):
    """Return when the peer cannot be the MN; raise when that is not proven."""
    me, peer = whoami(config)
    evidence = peer_evidence(config, me, peer)
    if not evidence and not fence_peer:
        return
    for line in evidence:
        out("  %s" % line)
    if fence_peer:
        result = fence(peer, "off")
        if not result.ok:
            raise ActivationError("powering off %s through its fence device failed: %s; nothing was changed here"
                                  % (peer.name, result.last_error_line()))
        out("  %s powered off through its fence device" % peer.name)
    state = power_state(peer)
    if state == "off":
        out("  %s is powered off (its fence device says so): taking over" % peer.name)
        return
    raise ActivationError("%s may still be the MN (%s) and its fence device says it is %s; refusing to start a "
                          "second MN on the same data. Deactivate %s (xcatha deactivate there), or power it off "
                          "(xcatha activate --fence-peer does that through its fence device); nothing was changed "
                          "here" % (peer.name, "; ".join(evidence) or "--fence-peer", state or "in an unknown "
                                    "state", peer.name))


# ---------------------------------------------------------------- activate, deactivate
def activate(config, out, dry_run=False, force=False, logfile=None, fence_peer=False):
    refuse_if_managed(force)
    steps = cluster_config.resource_params(config)
    if dry_run:
        out("Would activate this host as the MN, in this order (nothing is changed now):")
        out("  first, prove the peer is not the MN (its lease on the shared data, the VIP; else its fence device)")
        for number, (name, params) in enumerate(steps.items(), 1):
            out("  %d. start %-11s %s" % (number, name, describe(params)))
        return
    if run_agent("vip", "monitor", steps["vip"], logfile)[0] != 0:
        prove_peer_down(config, out, fence_peer)
    started = []
    for name, params in steps.items():
        if run_agent(name, "monitor", params, logfile)[0] == 0:
            out("  %-11s already running" % name)
            continue
        rc, reason = run_agent(name, "start", params, logfile)
        if rc != 0:
            out("  %-11s FAILED (rc %d): %s" % (name, rc, reason))
            # the failed member too: a start that fails late may leave its server running
            undo = [name] + list(reversed(started))
            still = _roll_back(undo, steps, out, logfile)
            if still:
                raise ActivationError("activation stopped at %s: %s; rolling back failed too, still running: %s "
                                      "(stop them by hand, then xcatha deactivate)"
                                      % (name, reason or "rc %d" % rc, " ".join(still)))
            raise ActivationError("activation stopped at %s: %s" % (name, reason or "rc %d" % rc))
        started.append(name)
        out("  %-11s started" % name)
    log.info("activated: %s", " ".join(steps))


def _roll_back(names, steps, out, logfile):
    """Stop names in the order given; stop at the first that fails (what runs needs the rest).
    Returns what may still run."""
    for index, name in enumerate(names):
        rc, reason = run_agent(name, "stop", steps[name], logfile)
        if rc != 0:
            out("  %-11s FAILED to stop: %s" % (name, reason or "rc %d" % rc))
            return names[index:]
        out("  %-11s stopped again" % name)
    return []


def deactivate(config, out, dry_run=False, force=False, logfile=None):
    refuse_if_managed(force)
    steps = cluster_config.resource_params(config)
    if dry_run:
        out("Would deactivate this host, in this order (nothing is changed now):")
        for number, name in enumerate(reversed(list(steps)), 1):
            out("  %d. stop %s" % (number, name))
        out("  then verify: services down and disabled at boot, no links, own hostname, no VIP")
        return
    order = list(reversed(list(steps)))
    for index, name in enumerate(order):
        rc, reason = run_agent(name, "stop", steps[name], logfile)
        if rc != 0:
            out("  %-11s FAILED to stop: %s" % (name, reason or "rc %d" % rc))
            kept = list(reversed(order[index + 1:]))
            raise ActivationError("deactivation stopped at %s, which failed to stop (%s); still running here: %s "
                                  "(kept so that %s keeps its data and address). Fix it, then run xcatha "
                                  "deactivate again" % (name, reason or "rc %d" % rc, " ".join(kept + [name]),
                                                        name))
        out("  %-11s stopped" % name)
    for _service, _unit, boot in service_units(config):
        units.disable_at_boot(boot)
    findings = standby_findings(config)
    for finding in findings:
        out("  NOT CLEAN: %s" % finding)
    if findings:
        raise ActivationError("deactivation incomplete: %s" % "; ".join(findings))
    log.info("deactivated")


def service_units(config):
    """Every unit that must not run on a standby nor start at boot."""
    engine = config.get("database", "engine")
    found = []
    services = [("postgresql" if engine == "postgresql" else "mysql")] if engine != "sqlite" else []
    services += ["xcatd", "named"]
    if cluster_config.dhcp_backend(config) == "kea":
        services.append("kea-dhcp4")
        # the companions makedhcp may start (DDNS, DHCPv6, control agent), where installed
        services += [service for service in units.KEA_COMPANIONS
                     if units.unit_exists(units.detect_unit(service))]
    else:
        services.append("dhcpd")
    services += [config.get("console", "type"), "http"]
    for service in services:
        unit = units.detect_unit(service)
        found.append((service, unit, units.boot_units(service, unit)))
    return found


def active_here(config):
    """What says this host is the MN now (empty when it is not): running members or links."""
    signs = []
    for name, params in cluster_config.resource_params(config).items():
        rc, _reason = run_agent(name, "monitor", params, probe=True)
        if rc != 7:
            signs.append("%s (monitor rc %d)" % (name, rc))
    return signs


def standby_findings(config):
    """What keeps this host from being a clean standby (empty when it is one)."""
    findings = ["%s still active" % sign for sign in active_here(config)]
    for _service, unit, boot in service_units(config):
        enabled = units.enabled_units(boot)
        if enabled:
            findings.append("%s enabled at boot" % " ".join(enabled))
        if units.state(unit).active:
            findings.append("%s is running" % unit)
    shared_dir = config.get("shared", "dir")
    for directory in shared_data.default_dirs(config.get("database", "engine")):
        if shared_data.link_points_into(directory, shared_dir):
            findings.append("%s is still a link into %s" % (directory, shared_dir))
    own = vip.static_hostname()
    if own and socket.gethostname() != own:
        findings.append("hostname is %s, not the node's own %s" % (socket.gethostname(), own))
    address = config.get("vip", "ip")
    if vip.find(ipaddress.ip_address(address), vip.read_links()):
        findings.append("the VIP %s is still configured" % address)
    return findings
