"""systemd units of the services an xCAT MN runs: their names per distro, and how to drive them.

The names follow xCAT's own servicemap (perl-xCAT/xCAT/Utils.pm): the same
service is ``dhcpd`` on RHEL and SLES but ``isc-dhcp-server`` on Debian and
Ubuntu, ``conserver`` or ``conserver-server``, and so on.  The first candidate
whose unit file exists wins; an agent's ``unit`` parameter overrides it.
"""
import os
import re
import time

from xcatha import processes, run
from xcatha.log import log
from xcatha.ocf import ExitCode, OcfError

SYSTEMCTL = "systemctl"
JOURNALCTL = "journalctl"
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system",
             "/lib/systemd/system", "/run/systemd/generator.late")
OS_RELEASE = "/etc/os-release"

# service -> distro -> candidate unit names, most likely first.  A distro is looked
# up as "<family><major version>" (rhel10), then "<family>", then "*".
SERVICE_UNITS = {
    "xcatd": {"*": ["xcatd.service"]},
    # Debian 12 and Ubuntu 22.04+ ship named.service (bind9.service is its alias; older releases' name)
    "named": {"rhel": ["named.service"], "sles": ["named.service"],
              "debian": ["named.service", "bind9.service"]},
    "dhcpd": {"rhel": ["dhcpd.service"], "sles": ["dhcpd.service"],
              "debian": ["isc-dhcp-server.service"]},
    # Kea (site.dhcpbackend=kea): RHEL's and SUSE's packages name the units after the
    # daemons, Debian's and Ubuntu's add -server (xCAT's Kea.pm tries both, so do we).
    "kea-dhcp4": {"rhel": ["kea-dhcp4.service"], "sles": ["kea-dhcp4.service"],
                  "debian": ["kea-dhcp4-server.service", "kea-dhcp4.service"]},
    "kea-dhcp6": {"rhel": ["kea-dhcp6.service"], "sles": ["kea-dhcp6.service"],
                  "debian": ["kea-dhcp6-server.service", "kea-dhcp6.service"]},
    "kea-dhcp-ddns": {"rhel": ["kea-dhcp-ddns.service"], "sles": ["kea-dhcp-ddns.service"],
                      "debian": ["kea-dhcp-ddns-server.service", "kea-dhcp-ddns.service"]},
    "kea-ctrl-agent": {"*": ["kea-ctrl-agent.service"]},
    "conserver": {"rhel": ["conserver.service"], "sles": ["conserver.service"],
                  "debian": ["conserver-server.service", "conserver.service"]},
    "goconserver": {"*": ["goconserver.service"]},
    "http": {"rhel": ["httpd.service"], "sles": ["apache2.service"], "debian": ["apache2.service"]},
    "mysql": {"rhel": ["mariadb.service", "mysqld.service"], "sles": ["mariadb.service", "mysql.service"],
              "debian": ["mariadb.service", "mysql.service"]},
    # EL: the distro's server, else PGDG's versioned one; Debian/Ubuntu: one unit per cluster
    "postgresql": {"rhel": ["postgresql.service", "postgresql-{pg_version}.service"],
                   "sles": ["postgresql.service"],
                   "debian": ["postgresql@{pg_version}-main.service"]},
}

# The PostgreSQL major version a distro installs by default (EL8's default module
# stream), used when none is found installed.
PG_DEFAULT_VERSIONS = {"rhel8": "10", "rhel9": "13", "rhel10": "16", "sles15": "15",
                       "debian12": "15", "ubuntu22": "14", "ubuntu24": "16"}

# What makedhcp runs beside kea-dhcp4 when the site needs it: the DHCPv6 server (IPv6
# networks), the DDNS server (site.dnshandler=ddns, xCAT's default) and the control agent
# (site.keacontrolagent).  Debian's are WantedBy=kea-dhcp4-server.service: once enabled
# they start with every start of kea-dhcp4, and stopping kea-dhcp4 leaves them running.
KEA_COMPANIONS = ("kea-dhcp6", "kea-dhcp-ddns", "kea-ctrl-agent")

DB_DIRS = {  # engine -> family -> the directory that holds the database
    "postgresql": {"rhel": "/var/lib/pgsql", "sles": "/var/lib/pgsql", "debian": "/var/lib/postgresql"},
    "mysql": {"rhel": "/var/lib/mysql", "sles": "/var/lib/mysql", "debian": "/var/lib/mysql"},
    "sqlite": {"rhel": "/etc/xcat", "sles": "/etc/xcat", "debian": "/etc/xcat"},
}
# Where Debian keeps the server's configuration apart from its data: pg_hba.conf and
# listen_addresses (edited by pgsqlsetup for the VIP and both hosts), MariaDB's
# bind-address and debian.cnf (whose account lives in the shared data).  Shared with
# the data, they are the same on both hosts, as they are where RHEL keeps them in it.
DB_CONFIG_DIRS = {
    "postgresql": {"debian": "/etc/postgresql"},
    "mysql": {"debian": "/etc/mysql"},
}

PG_DATA_DIRS = {  # family (or the unit's flavour) -> the server's data directory
    "rhel": "/var/lib/pgsql/data", "rhel-pgdg": "/var/lib/pgsql/{pg_version}/data",
    "sles": "/var/lib/pgsql/data", "debian": "/var/lib/postgresql/{pg_version}/main",
}

# The configuration file xCAT's makedhcp writes, per backend and family (SLES's
# dhcp-server reads /etc/dhcpd.conf); the first that exists wins.
DHCP_CONFIGS = {
    "isc": {"rhel": ["/etc/dhcp/dhcpd.conf"], "sles": ["/etc/dhcpd.conf", "/etc/dhcp/dhcpd.conf"],
            "debian": ["/etc/dhcp/dhcpd.conf"]},
    "kea": {"*": ["/etc/kea/kea-dhcp4.conf"]},
}

DROP_IN_NAME = "50-xcatha.conf"
# Pacemaker recovers a failed service itself; a unit restarting on its own races
# that recovery (a monitor sees "stopped", then the service is back under
# systemd while Pacemaker starts it again).  A shutdown must stop Pacemaker (and so
# the group, in order) before the service.  Not Before=pacemaker.service (as
# Pacemaker's own drop-ins say): while pacemaker.service stops (`pcs cluster stop`),
# systemd orders every start job of such a unit after that stop, and xCAT's
# `systemctl restart` inside makedhcp -n, makedns -n or makeconservercf then waits
# for Pacemaker, which waits for the agent running that command (seen in the lab:
# the stop hung until the start's timeout).  xcatha-boot-cleanup.service, active
# from boot to shutdown and ordered Before=pacemaker.service, carries the order:
# a shutdown stops Pacemaker, then it, then the service; `pcs cluster stop` leaves
# it alone, so nothing waits.
# ExecStopPost tells Pacemaker at once when the service dies unasked (xcatha.exited), with
# full privileges ("+"): it inherits the unit's User= otherwise (MariaDB's mysql, PostgreSQL's
# postgres), as whom crm_resource cannot reach Pacemaker — the death went unreported (bench:
# a killed postmaster noticed by the 60 s monitor, 11 s later) and was left to the monitor.
DROP_IN = """# Written by xcatha: this service is managed by Pacemaker (or xcatha activate).
[Unit]
Before=xcatha-boot-cleanup.service

[Service]
Restart=no
"""
EXIT_HOOK = """# A stop nobody asked for (no stop/restart job) is reported to Pacemaker at once.
ExecStopPost=-+{python} -I -m xcatha.exited {resource} %n
"""
# service (as units name it) -> the Pacemaker resource whose agent runs it; the Kea
# companions are no resource's main service (the dhcpd monitor does not watch them)
RESOURCES = {"xcatd": "xcatd", "named": "named", "dhcpd": "dhcpd", "kea-dhcp4": "dhcpd",
             "conserver": "conserver", "goconserver": "conserver", "http": "http",
             "postgresql": "db", "mysql": "db"}


def drop_in_text(service=None):
    """The drop-in for a service's unit: with the exit hook when a resource runs it."""
    resource = RESOURCES.get(service)
    return DROP_IN + (EXIT_HOOK.format(python=run.python(), resource=resource) if resource else "")


def parse_os_release(text):
    values = {}
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key and _:
            values[key.strip()] = value.strip().strip("\"'")
    return values


def distro_family(os_release):
    """rhel, sles or debian, from /etc/os-release's ID and ID_LIKE."""
    words = (os_release.get("ID", "") + " " + os_release.get("ID_LIKE", "")).lower().split()
    for family, ids in (("sles", ("sles", "suse", "opensuse", "opensuse-leap")),
                        ("debian", ("debian", "ubuntu")),
                        ("rhel", ("rhel", "centos", "fedora", "rocky", "almalinux", "ol"))):
        if any(word in ids for word in words):
            return family
    return "rhel"  # xCAT's main platform


def distro(os_release):
    """The table key of a distro: family and major version, e.g. rhel9, sles15, ubuntu24, debian12."""
    family = distro_family(os_release)
    major = os_release.get("VERSION_ID", "").split(".")[0]
    ids = (os_release.get("ID", "") + " " + os_release.get("ID_LIKE", "")).lower().split()
    # Ubuntu's own version numbers, not those of the Debian it derives from
    name = "ubuntu" if family == "debian" and "ubuntu" in ids else family
    return name + major


def _local_os_release():
    try:
        with open(OS_RELEASE, encoding="utf-8") as stream:
            return parse_os_release(stream.read())
    except OSError:
        return {}


def local_family():
    return distro_family(_local_os_release())


def local_distro():
    return distro(_local_os_release())


def family_of(key):
    """rhel10 -> rhel, ubuntu24 -> debian."""
    name = key.rstrip("0123456789")
    return "debian" if name == "ubuntu" else name


def _lookup(table, key):
    """A table's entry for a distro key (rhel10), else for its family (rhel), else for any ("*")."""
    for candidate in (key, family_of(key), "*"):
        if candidate in table:
            return table[candidate]
    return None


def unit_candidates(service, family, pg_version=None):
    """The service's unit names on family (rhel) or a distro (rhel10); names that need a
    PostgreSQL version are left out when it is not known."""
    names = _lookup(SERVICE_UNITS[service], family) or []
    return [name.format(pg_version=pg_version) for name in names
            if pg_version or "{pg_version}" not in name]


def pg_default_version(key):
    return PG_DEFAULT_VERSIONS.get(key)


def pg_data_dir(unit, key, pg_version=None):
    """The data directory of the PostgreSQL server that unit runs on a distro."""
    family = family_of(key)
    flavour = "rhel-pgdg" if family == "rhel" and unit.startswith("postgresql-") else family
    version = pg_version or (unit.split("@", 1)[1].split("-", 1)[0] if "@" in unit else None) or \
        (unit[len("postgresql-"):].split(".", 1)[0] if unit.startswith("postgresql-") else None) or \
        pg_default_version(key) or ""
    return PG_DATA_DIRS[flavour].format(pg_version=version)


def dhcp_config(backend, key):
    """The configuration file makedhcp writes for backend (isc or kea) on a distro: the first that exists."""
    candidates = _lookup(DHCP_CONFIGS[backend], key)
    return next((path for path in candidates if os.path.exists(path)), candidates[0])


def unit_exists(unit, unit_dirs=UNIT_DIRS):
    template = unit.split("@", 1)[0] + "@.service" if "@" in unit else None
    for directory in unit_dirs:
        if os.path.exists(os.path.join(directory, unit)) or (
                template and os.path.exists(os.path.join(directory, template))):
            return True
    # Units generated from init scripts (isc-dhcp-server on Debian) appear only at boot.
    base = unit.rsplit(".", 1)[0]
    return os.path.exists(os.path.join("/etc/init.d", base))


def postgresql_version(root="/usr/lib/postgresql", prefix=""):
    """The newest installed PostgreSQL major version: Debian's cluster units are per
    version (postgresql@15-main, /usr/lib/postgresql/15), and so are PGDG's on EL
    (postgresql-15, /usr/pgsql-15)."""
    try:
        versions = sorted((entry[len(prefix):] for entry in os.listdir(root)
                           if entry.startswith(prefix) and entry[len(prefix):].isdigit()), key=int)
    except OSError:
        return None
    return versions[-1] if versions else None


def local_postgresql_version(family):
    if family_of(family) == "debian":
        return postgresql_version()
    return postgresql_version("/usr", prefix="pgsql-") if family_of(family) == "rhel" else None


def detect_unit(service, override=None, family=None):
    """The unit that runs service here: the override, else the first existing candidate.
    family may be a family (rhel) or a distro (rhel10); by default this host's distro."""
    if override:
        return override
    family = family or local_distro()
    pg_version = None
    if service == "postgresql":
        # Debian's unit names carry the version: the distro's default one until a server is installed
        pg_version = local_postgresql_version(family) or (
            pg_default_version(family) if family_of(family) == "debian" else None)
    candidates = unit_candidates(service, family, pg_version)
    for unit in candidates:
        if unit_exists(unit):
            return unit
    return candidates[0] if candidates else service + ".service"


def boot_units(service, unit, family=None):
    """Every unit that would start the service at boot.  On Debian the
    postgresql.service umbrella starts each cluster unit through a generator."""
    family = family_of(family or local_family())
    units = [unit]
    if service == "postgresql" and family == "debian" and unit.startswith("postgresql@"):
        units.append("postgresql.service")
    return units


def control_group(unit):
    """Where systemd puts a system unit's processes: an instance of a template unit goes into
    its template's slice (postgresql@15-main.service -> system-postgresql.slice)."""
    if "@" in unit:
        template = unit.split("@", 1)[0]
        # systemd escapes '-' in a slice name's component as \x2d
        return "/system.slice/system-%s.slice/%s" % (template.replace("-", "\\x2d"), unit)
    return "/system.slice/" + unit


# ---------------------------------------------------------------- driving units
# `systemctl show` fails only when systemd cannot be asked (a unit it does not know has
# LoadState=not-found): a daemon-reexec or a dying node.  Asked again after these pauses
# before the failure stands: a probe on the passive node that answered "error" when systemd
# was briefly gone made Pacemaker restart the database and xcatd on the active node (fault
# run of seed 1300, fault 42: "Failed to get properties: Transport endpoint is not connected").
SHOW_RETRY_PAUSES = (0.5, 1.5)


def show(unit, *properties, deadline=None, pauses=SHOW_RETRY_PAUSES):
    argv = [SYSTEMCTL, "show", unit, "--property=" + ",".join(properties)]
    result = run.run(argv, timeout=10, deadline=deadline)
    for pause in pauses:
        if result.ok or (deadline is not None and deadline.remaining() < pause + 1.0):
            break
        log.info("systemctl show %s failed (%s): asking again in %.1f s", unit, result.last_error_line(), pause)
        time.sleep(pause)
        result = run.run(argv, timeout=10, deadline=deadline)
    if not result.ok:
        # Not knowing is no answer: "stopped" here would let a second copy start elsewhere.
        raise OcfError(ExitCode.ERR_GENERIC, "systemctl show %s failed: %s" % (unit, result.last_error_line()))
    values = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition("=")
        values[key] = value
    return values


class UnitState:
    __slots__ = ("unit", "active_state", "sub_state", "main_pid", "load_state", "control_group", "job")

    def __init__(self, unit, values):
        self.unit = unit
        self.active_state = values.get("ActiveState", "")
        self.sub_state = values.get("SubState", "")
        self.load_state = values.get("LoadState", "")
        self.control_group = values.get("ControlGroup", "")
        self.job = values.get("Job", "")
        try:
            self.main_pid = int(values.get("MainPID") or 0)
        except ValueError:
            self.main_pid = 0

    @property
    def active(self):
        return self.active_state in ("active", "reloading", "activating", "deactivating")

    @property
    def main_alive(self):
        # a zombie is dead: systemd may not have reaped a main process just SIGKILLed (seen in
        # make test: an xcatd stop failed on its own killed main pid, and the node was fenced)
        return self.main_pid > 0 and processes.alive(self.main_pid)

    def processes(self):
        """Every live process of the unit (its cgroup): units generated from init
        scripts have no main pid, and a service may fork children of its own."""
        return processes.unit_processes(self.control_group) if self.control_group else []

    @property
    def running(self):
        """Active, with its main process alive (or, without a known main pid, some process)."""
        if self.active_state != "active":
            return False
        return self.main_alive if self.main_pid > 0 else bool(self.processes())

    @property
    def changing(self):
        """A start, stop or restart job is under way (or queued): the state says nothing yet."""
        return self.active_state in ("activating", "deactivating", "reloading") or bool(self.job)

    @property
    def stopped(self):
        return self.active_state in ("inactive", "failed", "") and not self.main_alive and not self.processes()

    def describe(self):
        return "%s is %s (%s)" % (self.unit, self.active_state or "unknown", self.sub_state or "-")


class RunningUnit:
    """A unit seen running from the live processes in its cgroup alone, without asking systemd."""

    running, stopped, active = True, False, True

    def __init__(self, unit, pids):
        self.unit, self.pids = unit, pids

    def processes(self):
        return self.pids

    def describe(self):
        return "%s runs (pid %s)" % (self.unit, " ".join(map(str, self.pids[:5])))


def state(unit, deadline=None):
    return UnitState(unit, show(unit, "LoadState", "ActiveState", "SubState", "MainPID", "ControlGroup", "Job",
                                deadline=deadline))


def drop_in_paths(unit):
    """Where the drop-in may live: persistent (written by `xcatha setup finish`) or runtime."""
    return ["/etc/systemd/system/%s.d/%s" % (unit, DROP_IN_NAME), "/run/systemd/system/%s.d/%s" % (unit, DROP_IN_NAME)]


def drop_in_in_place(unit, service=None):
    """True when the drop-in systemd uses says what it must: the persistent one shadows a
    runtime one of the same name."""
    for path in drop_in_paths(unit):
        try:
            with open(path, encoding="utf-8") as stream:
                return stream.read() == drop_in_text(service)
        except OSError:
            continue
    return False


def write_drop_in(unit, service=None, persistent=False):
    """Write the drop-in; returns True when something changed (a daemon-reload is then due)."""
    return write_file(drop_in_paths(unit)[0 if persistent else 1], drop_in_text(service))


def write_file(path, text):
    """Write a unit's file (atomically) unless it already says text; True when it changed."""
    try:
        with open(path, encoding="utf-8") as stream:
            if stream.read() == text:
                return False
    except OSError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as stream:
        stream.write(text)
    os.replace(path + ".tmp", path)
    return True


def daemon_reload(deadline=None):
    run.run([SYSTEMCTL, "daemon-reload"], timeout=60, deadline=deadline)


def take_over(unit, service=None, deadline=None):
    """Make the unit Pacemaker's to run: no restart of its own, never started at boot.

    `xcatha setup finish` installs the drop-in for good; without it, start writes a runtime
    one — and pays a daemon-reload (0.2-0.5 s) at the worst moment, during a failover.
    """
    if not drop_in_in_place(unit, service):
        # one from `setup finish` of an older xcatha shadows a runtime one of the same name: refresh it
        write_drop_in(unit, service, persistent=os.path.exists(drop_in_paths(unit)[0]))
        daemon_reload(deadline)
        log.warning("%s: drop-in (no restart by systemd, exits reported to Pacemaker) written at runtime; "
                    "`xcatha setup finish` makes it permanent and saves a daemon-reload at failover", unit)
    disable_at_boot(boot_units(service, unit) if service else [unit], deadline=deadline)


def enabled_units(units, deadline=None):
    enabled = []
    for unit in units:
        result = run.run([SYSTEMCTL, "is-enabled", unit], timeout=10, deadline=deadline, quiet=True)
        # *-runtime links live in /run (a generator's, like Debian's postgresql one under
        # postgresql.service.wants): `disable` cannot remove them, and they only start
        # the unit through a parent that is disabled itself.
        if result.stdout.strip() in ("enabled", "linked", "alias"):
            enabled.append(unit)
    return enabled


def disable_at_boot(units, deadline=None):
    """A cluster-managed unit started at boot on the standby would run the
    service twice on the shared data."""
    enabled = enabled_units(units, deadline=deadline)
    if enabled:
        # --no-reload: the boot-time links are what counts; reloading the manager would cost
        # 0.2-0.5 s in the middle of a failover and changes nothing at boot.
        result = run.run([SYSTEMCTL, "disable", "--no-reload", *enabled], timeout=30, deadline=deadline)
        if not result.ok:
            raise OcfError(ExitCode.ERR_GENERIC, "cannot disable %s at boot: %s"
                           % (" ".join(enabled), result.last_error_line()))
        log.warning("%s was enabled at boot; disabled it (Pacemaker starts it)", " ".join(enabled))
    return enabled


def start(unit, deadline):
    result = run.run([SYSTEMCTL, "start", unit], deadline=deadline, timeout=deadline.remaining())
    if not result.ok:
        raise OcfError(ExitCode.ERR_GENERIC, "%s did not start: %s" % (unit, why_not_started(unit, result, deadline)))


# a log line's own time stamp and pid ("2026-11-30 12:01:02.345 UTC [812] "): pcs status keeps
# 128 characters of an exit reason, the message is what counts
STAMP = r"^\d{4}-\d\d-\d\d[ T][\d:.,]+( [A-Z]{2,5}| ?[+-]\d\d:?\d\d)?:? (\[\d+\]:? )?"
# a line that names a cause (services log to stderr at one journal priority: words decide)
SEVERE = r"\b(FATAL|PANIC|ERROR|CRITICAL|[Ee]rror|[Ff]ailed|[Cc]annot|[Uu]nable|[Dd]enied|[Ii]nvalid)\b"


def why_not_started(unit, result, deadline):
    """What the admin reads in pcs status: the unit's own line that names the cause, and
    systemd's verdict.  systemctl itself only says where to look ("See systemctl status ...")."""
    try:
        # not asked again: the failure to report is the start's, systemctl's own line will do
        values = show(unit, "Result", "ExecMainStatus", "InvocationID", deadline=deadline, pauses=())
        verdict = values.get("Result") or "failed"
        if values.get("ExecMainStatus", "0") not in ("", "0"):
            verdict += ", status %s" % values["ExecMainStatus"]
        line = None
        if values.get("InvocationID"):
            journal = run.run([JOURNALCTL, "_SYSTEMD_INVOCATION_ID=" + values["InvocationID"], "-o", "json", "-n", "20",
                               "-q", "--no-pager"], timeout=10, deadline=deadline, quiet=True)
            line = cause_in_journal(journal.stdout) if journal.ok else None
    except (OcfError, run.CommandTimeout, OSError):  # the failure to report is the start's
        return result.last_error_line()
    return "%s (%s)" % (line, verdict) if line else "%s; see journalctl -u %s" % (verdict, unit)


def cause_in_journal(text):
    """The service's own last severe line of this start (else its last line) from journalctl
    -o json: this very invocation, without xcatha's exit hook, which logs in the same unit."""
    import json
    messages = []
    for row in text.splitlines():
        try:
            entry = json.loads(row)
        except ValueError:
            continue
        if "xcatha.exited" in str(entry.get("_CMDLINE", "")):
            continue
        message = entry.get("MESSAGE")
        if isinstance(message, list):  # not UTF-8: journald gives the bytes
            message = bytes(message).decode("utf-8", "replace")
        if message and message.strip():
            messages.append(" ".join(re.sub(STAMP, "", message.strip()).split()))
    severe = [m for m in messages if re.search(SEVERE, m)]
    chosen = (severe or messages or [None])[-1]
    return log.redact(chosen) if chosen else None


def stop(unit, deadline, fraction=0.6, limit=None):
    """Stop the unit, leaving part of the deadline for the caller to escalate; limit caps the
    wait (the unit's stop job goes on after it; the caller kills what is left).

    The unit is ordered to stop after Pacemaker at a shutdown (the drop-in); during a
    reboot of the active node a plain stop job would wait for Pacemaker's own stop to
    finish, which waits for this agent: the stop is done now, whatever the order of the
    units' stop jobs."""
    try:
        timeout = max(deadline.share(fraction), 1.0)
        result = run.run([SYSTEMCTL, "stop", "--job-mode=ignore-dependencies", unit], deadline=deadline,
                         timeout=timeout if limit is None else min(timeout, limit))
    except run.CommandTimeout:
        log.warning("systemctl stop %s did not finish in time; escalating", unit)
        return False
    if not result.ok:
        log.warning("systemctl stop %s: %s", unit, result.last_error_line())
    reset_failed(unit, deadline)
    return result.ok


def reset_failed(unit, deadline):
    """A unit left "failed" by a killed process would show up in every status."""
    run.run([SYSTEMCTL, "reset-failed", unit], timeout=10, deadline=deadline, quiet=True)
