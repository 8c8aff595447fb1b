"""Distro family, service unit names and systemctl, like xCAT's servicemap."""

import os

from . import XcatError, run

UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system",
             "/usr/lib/systemd/system")

# Candidate unit names per service, as in xCAT's servicemap (Utils.pm); the
# first one installed wins.  Old Ubuntu only has bind9; RHEL/SLES use dhcpd
# and conserver, Debian isc-dhcp-server and conserver-server.
SERVICES = {
    "named": ("named", "bind9"),
    "dhcp": ("isc-dhcp-server", "dhcpd", "dhcp3-server"),
    "conserver": ("conserver-server", "conserver"),
    "goconserver": ("goconserver",),
    "postgresql": ("postgresql",),
    "mysql": ("mariadb", "mysql", "mysqld"),
}


def os_family(path="/etc/os-release"):
    """'debian', 'suse' or 'rhel' (the default), from ID and ID_LIKE."""
    ids = ""
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                if key in ("ID", "ID_LIKE"):
                    ids += " " + value.strip('"').lower()
    except FileNotFoundError:
        pass
    if "debian" in ids or "ubuntu" in ids:
        return "debian"
    if "suse" in ids or "sles" in ids:
        return "suse"
    return "rhel"


def unit_exists(name):
    return any(os.path.exists(os.path.join(d, name + ".service")) for d in UNIT_DIRS) \
        or os.path.exists(os.path.join("/etc/init.d", name))   # sysv units (Debian's dhcpd)


def unit_for(service):
    candidates = SERVICES[service]
    for name in candidates:
        if unit_exists(name):
            return name
    return candidates[0]


def systemd_running():
    return os.path.isdir("/run/systemd/system")


def systemctl(*args, check=True):
    return run(["systemctl"] + list(args), check=check)


def is_active(unit):
    return systemctl("is-active", "--quiet", unit, check=False).returncode == 0


def _journal_tail(unit):
    proc = run(["journalctl", "-u", unit, "-n", "8", "--no-pager", "-o", "cat"], check=False)
    return " | ".join(line for line in proc.stdout.splitlines() if line.strip())


def restart(unit):
    """systemctl restart UNIT and insist that it is active afterwards."""
    proc = systemctl("restart", unit, check=False)
    if proc.returncode != 0 or not is_active(unit):
        raise XcatError("failed to restart %s: %s" % (
            unit, " ".join((proc.stderr.strip(), _journal_tail(unit))).strip()))
