"""The machine and software the numbers were measured on."""
import os
import platform
import subprocess

PACKAGES = ("pacemaker", "corosync", "pcs", "resource-agents", "fence-agents", "postgresql-15", "bind9",
            "isc-dhcp-server", "conserver-server", "systemd")


def describe(lab):
    info = {"cpu_model": cpu_model(), "cores": os.cpu_count(), "memory_gb": memory_gb(),
            "kernel": platform.release(), "os": os_release(), "python_agents": python_version(),
            "packages": {name: package_version(name) for name in PACKAGES}}
    info["cluster"] = cluster_settings(lab)
    info["xcat"] = xcat_used(lab)
    return info


def xcat_used(lab):
    """'xCAT 2.19.0 (xcat-core-....tar.gz)', or the stand-in's name: the figures depend on it."""
    from lab import realxcat, xcat
    if not xcat.real():
        return "the stand-in (test-only Python, not xCAT)"
    try:
        return "xCAT %s (%s)" % (realxcat.version(lab.cfg), realxcat.source().name)
    except OSError:
        return "xCAT (%s)" % realxcat.source().name


def cpu_model():
    with open("/proc/cpuinfo") as stream:
        for line in stream:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def memory_gb():
    with open("/proc/meminfo") as stream:
        for line in stream:
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def os_release():
    try:
        with open("/etc/os-release") as stream:
            values = dict(line.rstrip("\n").split("=", 1) for line in stream if "=" in line)
        return values.get("PRETTY_NAME", "").strip('"')
    except OSError:
        return None


def python_version():
    result = subprocess.run(["/usr/bin/python3", "--version"], check=False, capture_output=True, text=True)
    return result.stdout.strip()


def package_version(name):
    result = subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], check=False,
                            capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def set_token(lab, token_ms=None):
    """corosync's token timeout on the running pair (None: corosync's default); pcs writes
    corosync.conf on both nodes and corosync reloads it (consensus follows: 1.2 × token)."""
    node = lab.node(lab.cfg.node_names[0])
    value = "" if token_ms is None else str(int(token_ms))
    result = node.exec(["pcs", "cluster", "config", "update", "totem", "token=" + value], timeout=120)
    if result.returncode != 0:
        raise RuntimeError("pcs cluster config update totem token=%s: %s" % (value, result.stderr.strip()))
    result = node.exec(["corosync-cmapctl", "-g", "runtime.config.totem.token"], timeout=30)
    running = result.stdout.rsplit("=", 1)[-1].strip()
    if token_ms is not None and running != value:
        raise RuntimeError("corosync runs with token %s ms after the update to %s" % (running, value))


def cluster_settings(lab):
    """Corosync's timing as it runs (pcs leaves the defaults) and the fence devices' delays."""
    node = lab.node(lab.cfg.node_names[0])
    settings = {}
    for key in ("token", "consensus", "token_retransmits_before_loss_const"):
        result = node.exec(["corosync-cmapctl", "-g", "runtime.config.totem." + key], timeout=30)
        if result.returncode == 0 and "=" in result.stdout:
            settings["totem_" + key] = result.stdout.rsplit("=", 1)[1].strip()
    result = node.exec(["cibadmin", "--query", "--xpath", "//nvpair[@name='pcmk_delay_base']"], timeout=30)
    settings["fence_delays"] = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    settings["arbiter"] = arbiter_setting(node)
    # our layout: named inside the group (layout group), else beside it, started together (parallel)
    result = node.exec(["cibadmin", "--query", "--xpath", "//group[@id='xcatmn']/primitive[@id='named']"],
                       timeout=30)
    settings["layout"] = "group" if result.returncode == 0 else "parallel"
    return settings


def arbiter_setting(node):
    """The quorum device as corosync runs it: 'HOST (ALGORITHM, heuristics MODE)', or 'none'."""
    result = node.exec(["corosync-cmapctl", "-b", "quorum.device"], timeout=30)
    device = dict(line.split(" = ", 1) for line in result.stdout.splitlines() if " = " in line)
    values = {key.split(" (", 1)[0]: value for key, value in device.items()}
    host = values.get("quorum.device.net.host")
    if not host:
        return "none"
    return "%s (%s, heuristics %s)" % (host, values.get("quorum.device.net.algorithm", "?"),
                                       values.get("quorum.device.heuristics.mode", "off"))
