"""Manual failover: activate and deactivate this host as the MN, by running the agents' own
start and stop actions in group order (the seed's activate-xcatmn / deactivate-xcatmn).

Activation stops at the first failure and stops again what it started ("exit and clean up
env").  Deactivation stops everything it can, then verifies the host is a clean standby:
every service down and disabled at boot, no links, its own hostname, no VIP.
"""
import os
import socket

from xcatha import cluster_config, run, shared_data, units, vip
from xcatha.log import log

OCF_ROOT = "/usr/lib/ocf"
AGENT_DIR = OCF_ROOT + "/resource.d/xcat"
AGENT_TIMEOUTS = {"vip": 20, "shared-data": 30, "db": 120, "xcatd": 120, "named": 120, "dhcpd": 120, "http": 60,
                  "conserver": 120}
SERVICES = {"db": None, "xcatd": "xcatd", "named": "named", "dhcpd": "dhcpd"}


class ActivationError(Exception):
    """Activation or deactivation failed; the message says where and why."""


def run_agent(name, action, params, logfile=None, probe=False):
    """One agent action, as Pacemaker would run it; returns (rc, exit reason)."""
    timeout = AGENT_TIMEOUTS.get(name, 60)
    env = {"OCF_ROOT": OCF_ROOT, "OCF_RESOURCE_INSTANCE": name, "__OCF_ACTION": action,
           "OCF_RESKEY_CRM_meta_timeout": str(timeout * 1000)}
    if logfile:
        env["HA_LOGFILE"] = logfile
    if action == "monitor" and not probe:
        env["OCF_RESKEY_CRM_meta_interval"] = "10000"
    env.update({"OCF_RESKEY_" + key: str(value) for key, value in params.items()})
    try:
        result = run.run([os.path.join(AGENT_DIR, name), action], env=env, timeout=timeout + 10)
    except run.CommandTimeout:
        return 1, "%s %s timed out after %ds" % (name, action, timeout)
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


def activate(config, out, dry_run=False, force=False, logfile=None):
    refuse_if_managed(force)
    steps = cluster_config.resource_params(config)
    if dry_run:
        out("Would activate this host as the MN, in this order (nothing is changed now):")
        for number, (name, params) in enumerate(steps.items(), 1):
            out("  %d. start %-11s %s" % (number, name, describe(params)))
        return
    started = []
    for name, params in steps.items():
        if run_agent(name, "monitor", params, logfile)[0] == 0:
            out("  %-11s already running" % name)
            continue
        rc, reason = run_agent(name, "start", params, logfile)
        if rc != 0:
            out("  %-11s FAILED (rc %d): %s" % (name, rc, reason))
            for done in reversed(started):
                stop_rc, stop_reason = run_agent(done, "stop", steps[done], logfile)
                out("  %-11s stopped again%s" % (done, "" if stop_rc == 0 else " FAILED: " + stop_reason))
            raise ActivationError("activation stopped at %s: %s" % (name, reason or "rc %d" % rc))
        started.append(name)
        out("  %-11s started" % name)
    log.info("activated: %s", " ".join(steps))


def deactivate(config, out, dry_run=False, force=False, logfile=None):
    refuse_if_managed(force)
    steps = cluster_config.resource_params(config)
    if dry_run:
        out("Would deactivate this host, in this order (nothing is changed now):")
        for number, name in enumerate(reversed(list(steps)), 1):
            out("  %d. stop %s" % (number, name))
        out("  then verify: services down and disabled at boot, no links, own hostname, no VIP")
        return
    failures = []
    for name in reversed(list(steps)):
        rc, reason = run_agent(name, "stop", steps[name], logfile)
        out("  %-11s %s" % (name, "stopped" if rc == 0 else "FAILED to stop: %s" % reason))
        if rc != 0:
            failures.append("%s: %s" % (name, reason))
    for _service, _unit, boot in service_units(config):
        units.disable_at_boot(boot)
    findings = standby_findings(config)
    for finding in findings:
        out("  NOT CLEAN: %s" % finding)
    if failures or findings:
        raise ActivationError("deactivation incomplete: %s" % "; ".join(failures + findings))
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


def standby_findings(config):
    """What keeps this host from being a clean standby (empty when it is one)."""
    findings = []
    steps = cluster_config.resource_params(config)
    for name, params in steps.items():
        rc, reason = run_agent(name, "monitor", params, probe=True)
        if rc != 7:
            findings.append("%s still active (monitor rc %d%s)" % (name, rc, ": " + reason if reason else ""))
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
    address = steps["vip"]["ip"]
    import ipaddress
    if vip.find(ipaddress.ip_address(address), vip.read_links()):
        findings.append("the VIP %s is still configured" % address)
    return findings
