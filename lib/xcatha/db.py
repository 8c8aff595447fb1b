"""The xCAT database: cfgloc, the three engines, and their servers.

xCAT's ``/etc/xcat/cfgloc`` names the engine and credentials:
``Pg:dbname=xcatdb;host=<ip>|<user>|<password>`` (PostgreSQL) or
``mysql:dbname=xcatdb;host=<ip>|<user>|<password>`` (MySQL/MariaDB); without a
cfgloc xCAT uses SQLite files in /etc/xcat.  The password is registered as a
secret the moment it is read: it reaches a child only through its
environment, never its argv, a log line or an exit reason.
"""
import glob
import os
import time

from xcatha import processes, run, units
from xcatha.daemons import Daemon
from xcatha.log import log
from xcatha.ocf import STATE_DIR, ExitCode, OcfError

CFGLOC = "/etc/xcat/cfgloc"
SQLITE_DIR = "/etc/xcat"
PREFIX_ENGINE = {"Pg": "postgresql", "mysql": "mysql"}
# A server's lock file in its data directory (MariaDB locks its files instead).
LOCK_FILES = {"postgresql": "postmaster.pid"}
# A real query on a table every xCAT database has.
MONITOR_SQL = "SELECT count(*) FROM site"


class Cfgloc:
    __slots__ = ("engine", "dsn", "user", "password")

    def __init__(self, engine, dsn, user, password):
        self.engine, self.dsn, self.user, self.password = engine, dsn, user, password

    @property
    def dbname(self):
        return self.dsn.get("dbname", "xcatdb")

    @property
    def host(self):
        return self.dsn.get("host", "localhost")

    @property
    def port(self):
        return self.dsn.get("port")

    def without_password(self):
        prefix = {v: k for k, v in PREFIX_ENGINE.items()}.get(self.engine, self.engine)
        return "%s:%s|%s" % (prefix, ";".join("%s=%s" % item for item in self.dsn.items()), self.user)


def parse_cfgloc(text):
    """Parse cfgloc text; the password becomes a secret before anything else happens."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    dsn_part, _, credentials = line.partition("|")
    user, _, password = credentials.partition("|")
    log.add_secret(password)
    prefix, colon, dsn_text = dsn_part.partition(":")
    if not colon or prefix not in PREFIX_ENGINE:
        raise ValueError("cfgloc does not start with Pg: or mysql:")
    dsn = {}
    for item in dsn_text.split(";"):
        key, equals, value = item.partition("=")
        if equals:
            dsn[key.strip()] = value.strip()
    if "host" not in dsn or not user:
        raise ValueError("cfgloc lacks host= or the user")
    return Cfgloc(PREFIX_ENGINE[prefix], dsn, user, password)


READ_CODE = (  # in a child: cfgloc is on the shared storage, which may hang (the agent must not)
    "import sys\n"
    "try:\n"
    "    sys.stdout.write(open(sys.argv[1], encoding='utf-8').read())\n"
    "except FileNotFoundError:\n"
    "    sys.exit(2)\n"
    "except OSError as e:\n"
    "    sys.stderr.write(e.strerror + '\\n'); sys.exit(1)\n")


def read_shared(path, deadline, share=0.3):
    """The text of a file on the shared storage, or None when it does not exist, read by a child
    within a share of the deadline: storage that hangs must fail this action in time, not hang
    it until the executor kills it."""
    budget = max(min(deadline.share(share), 10.0), 0.5)
    try:
        result = run.run([run.python(), "-I", "-c", READ_CODE, path], timeout=budget,
                         quiet=True)
    except run.CommandTimeout:
        raise OcfError(ExitCode.ERR_GENERIC, "cannot read %s: the shared storage does not answer (%.0fs)"
                       % (path, budget)) from None
    if result.rc == 2:
        return None
    if not result.ok:
        raise OcfError(ExitCode.ERR_GENERIC, "cannot read %s: %s" % (path, result.last_error_line()))
    return result.stdout


def read_cfgloc(path=CFGLOC, deadline=None):
    """The parsed cfgloc, or None when there is none (SQLite); with a deadline, read_shared."""
    if deadline is not None:
        text = read_shared(path, deadline)
        if text is None:
            return None
    else:
        try:
            with open(path, encoding="utf-8") as stream:
                text = stream.read()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise OcfError(ExitCode.ERR_GENERIC, "cannot read %s: %s" % (path, error.strerror)) from None
    try:
        return parse_cfgloc(text)
    except ValueError as error:
        raise OcfError(ExitCode.ERR_CONFIGURED, "%s is malformed: %s" % (path, error)) from None


def sqlite_files(directory=SQLITE_DIR):
    return sorted(glob.glob(os.path.join(directory, "*.sqlite")))


def check_engine(engine, cfgloc_path, deadline=None):
    """The seed's 'check if current DB type is matched, if not, exit': rc 6 naming both."""
    cfgloc = read_cfgloc(cfgloc_path, deadline)
    if cfgloc is not None:
        actual = cfgloc.engine
    elif sqlite_files(os.path.dirname(cfgloc_path)):
        actual = "sqlite"
    else:
        raise OcfError(ExitCode.ERR_GENERIC, "neither %s nor SQLite tables in %s: is the shared data "
                       "linked?" % (cfgloc_path, os.path.dirname(cfgloc_path)))
    if actual != engine:
        raise OcfError(ExitCode.ERR_CONFIGURED, "the database is %s (from %s) but the resource is configured "
                       "for engine=%s" % (actual, cfgloc_path, engine))
    return cfgloc


# ---------------------------------------------------------------- engines
class Engine:
    name = None
    service = None
    kill_signal = 15  # what stop sends to server processes the unit left behind

    def __init__(self, unit=None, datadir=None, family=None):
        self.family = family or units.local_family()
        self.daemon = Daemon(self.service, unit, self.family) if self.service else None
        self.unit = self.daemon.unit if self.daemon else None
        self.datadir = datadir or self.default_datadir()

    def default_datadir(self):
        return None

    def query(self, cfgloc, sql, deadline, timeout=10):
        raise NotImplementedError

    # -- the server
    def server_status(self, deadline):
        code, reason, _ = self.daemon.status(deadline)
        return code, reason

    executables = ()  # the server's program names: what stop may kill besides the unit's cgroup

    def server_processes(self):
        """The engine's server processes working in the data directory (servers chdir into it)."""
        return processes.servers_in(self.datadir, self.executables) if self.datadir else []

    def clear_leftovers(self, deadline):
        """After a crash: orphans of a dead server and its stale lock, which a
        process with the same pid number on this node would make look alive."""
        leftovers = self.server_processes()
        if leftovers:
            log.warning("%s: killing %d leftover process(es) in %s", self.unit, len(leftovers), self.datadir)
            processes.terminate(leftovers, deadline, grace=min(deadline.share(0.2), 5.0))

    def start(self, cfgloc, deadline):
        units.take_over(self.unit, self.service, deadline)
        state = units.state(self.unit, deadline)
        if not state.active:
            self.clear_leftovers(deadline)
            units.start(self.unit, deadline)
        self.wait_until_serving(cfgloc, deadline)

    def why_down(self, reason, deadline):
        """The reason a monitor gives for a server that is down: on a full filesystem that comes
        first (MariaDB aborts there and cannot start until space is freed), so that `pcs status`
        says what to do at the first failed monitor, not after a start has waited for space."""
        free = free_space(self.datadir, deadline) if self.datadir else None
        if free is None or free >= MIN_FREE:
            return reason
        return "the filesystem of %s is full (%d MB free): free space there; %s" % (
            self.datadir, free // 2 ** 20, reason)

    def wait_until_serving(self, cfgloc, deadline):
        last = "no answer"
        while True:
            try:
                result = self.query(cfgloc, "SELECT 1", deadline, timeout=5)
                if result.ok:
                    log.info("%s accepts %s@%s/%s", self.name, cfgloc.user, cfgloc.host, cfgloc.dbname)
                    return
                last = result.last_error_line()
            except run.CommandTimeout:
                last = "connection attempt timed out"
            if deadline.remaining() < 1.0:
                raise OcfError(ExitCode.ERR_GENERIC, "%s started but does not accept %s@%s/%s: %s"
                               % (self.name, cfgloc.user, cfgloc.host, cfgloc.dbname, last))
            time.sleep(0.2)

    def stop(self, deadline):
        units.stop(self.unit, deadline, fraction=0.6)
        left = self.server_processes()
        if left:
            log.warning("%s: %d process(es) still in %s after stopping the unit", self.unit, len(left),
                        self.datadir)
            processes.terminate(left, deadline, grace=deadline.share(0.5), first_signal=self.kill_signal)
        left = self.server_processes()
        state = units.state(self.unit, deadline)
        if left or state.main_alive:
            raise OcfError(ExitCode.ERR_GENERIC, "%s still running after stop (pids %s)"
                           % (self.unit, " ".join(str(p) for p in left) or state.main_pid))

    def monitor(self, cfgloc_path, depth, deadline):
        code, reason = self.server_status(deadline)
        if code != ExitCode.SUCCESS:
            return code, self.why_down(reason, deadline)
        if depth < 10:
            return code, reason
        cfgloc = read_cfgloc(cfgloc_path, deadline)
        if cfgloc is None:
            return ExitCode.ERR_GENERIC, "%s is missing" % cfgloc_path
        try:
            result = self.query(cfgloc, MONITOR_SQL, deadline, timeout=max(deadline.share(0.8), 1.0))
        except run.CommandTimeout:
            return ExitCode.ERR_GENERIC, "query on %s timed out" % cfgloc.dbname
        if not result.ok:
            return ExitCode.ERR_GENERIC, "query on %s failed: %s" % (cfgloc.dbname, result.last_error_line())
        return ExitCode.SUCCESS, "%s answers on %s" % (self.name, cfgloc.dbname)


class PostgreSQL(Engine):
    name = "postgresql"
    service = "postgresql"
    executables = ("postgres", "postmaster")
    kill_signal = 3  # SIGQUIT: PostgreSQL's immediate shutdown, crash recovery at next start

    def server_status(self, deadline):
        code, reason = super().server_status(deadline)
        if code == ExitCode.SUCCESS and not self.postmaster_running():
            # its backends outlive a killed postmaster for a moment; the server is gone
            return ExitCode.ERR_GENERIC, "the postmaster of %s is gone" % self.datadir
        return code, reason

    def postmaster_running(self):
        """A postmaster among the unit's processes, from /proc alone (the monitors' hot path; its
        lock file is on the shared storage, which may hang): the server process whose command
        line is its own, not a backend's title ("postgres: 15/main: checkpointer")."""
        for pid in processes.unit_processes(units.control_group(self.unit)):
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as stream:
                    argv = stream.read().split(b"\0")
            except OSError:
                continue
            if os.path.basename(argv[0].decode("utf-8", "replace")) in self.executables:
                return True
        return False

    def postmaster_pid(self, deadline):
        """The pid in the data directory's lock file (on the shared storage: read_shared)."""
        text = read_shared(os.path.join(self.datadir, "postmaster.pid"), deadline, share=0.2)
        try:
            return int(text.splitlines()[0]) if text else None
        except ValueError:
            return None

    def default_datadir(self):
        return units.pg_data_dir(self.unit, self.family)

    def start(self, cfgloc, deadline):
        if not units.state(self.unit, deadline).active and adapt_postgresql(self.unit):
            units.daemon_reload(deadline)  # once, on a pair set up before xcatha had the drop-in
            log.warning("%s: the postmaster runs without pg_ctlcluster (%s); `xcatha setup finish` installs "
                        "it ahead of a failover", self.unit, PG_DEBIAN_DROP_IN)
        super().start(cfgloc, deadline)

    def query(self, cfgloc, sql, deadline, timeout=10):
        argv = ["psql", "-X", "-w", "-q", "-A", "-t", "-h", cfgloc.host, "-U", cfgloc.user,
                "-d", cfgloc.dbname, "-c", sql]
        if cfgloc.port:
            argv[7:7] = ["-p", cfgloc.port]
        env = {"PGPASSWORD": cfgloc.password, "PGCONNECT_TIMEOUT": str(max(int(timeout), 2))}
        return run.run(argv, env=env, timeout=timeout, deadline=deadline, quiet=True)

    def clear_leftovers(self, deadline):
        super().clear_leftovers(deadline)
        pid = self.postmaster_pid(deadline)
        if pid is None or self.server_processes():
            return
        # The lock may belong to a server alive on the other host (shared data): it is never
        # removed for that.  PostgreSQL itself ignores a lock whose pid is dead here; only a
        # pid that happens to name a live process of another program here would block it.
        program = processes.executable_name(pid) if processes.alive(pid) else None
        if program is not None and program not in self.executables:
            pidfile = os.path.join(self.datadir, "postmaster.pid")
            os.unlink(pidfile)
            log.warning("removed %s: its pid %d is %s here, not a server", pidfile, pid, program)


# Debian runs each PostgreSQL cluster through pg_ctlcluster (Perl), whose start sleeps 0.5 s
# and then wants three psql answers in a row, 0.5 s apart: 2.2 s in the lab for a server
# ready in 0.2 s (pg_ctl -w) — on the critical path of every failover.  This drop-in runs the
# server the way RHEL's postgresql.service does: the postmaster itself, Type=notify (Debian
# builds it with systemd support: READY=1 once it accepts connections), SIGINT for the fast
# shutdown.  -D is the configuration directory: its postgresql.conf names the data directory,
# hba/ident files and the pid file pg_lsclusters reads, as for pg_ctlcluster.
PG_DEBIAN_DROP_IN = "40-xcatha-postmaster.conf"
PG_DEBIAN = """\
# Written by xcatha: the postmaster as RHEL's unit runs it (Type=notify), instead of
# pg_ctlcluster, whose start sleeps 2 s.  Same configuration, data directory and pid file.
[Service]
Type=notify
User=postgres
Group=postgres
RuntimeDirectory={runtime}
RuntimeDirectoryMode=2775
RuntimeDirectoryPreserve=yes
PIDFile=
ExecStart=
ExecStart=/usr/lib/postgresql/{version}/bin/postgres -D /etc/postgresql/{version}/{cluster}
ExecStop=
ExecReload=
ExecReload=/bin/kill -HUP $MAINPID
KillMode=mixed
KillSignal=SIGINT
"""


PG_CTLCLUSTER = "/usr/bin/pg_ctlcluster"
PG_DEBIAN_SERVER = "/usr/lib/postgresql/{version}/bin/postgres"
PG_DEBIAN_DROP_INS = "/etc/systemd/system/{unit}.d"


def adapt_postgresql(unit):
    """On Debian/Ubuntu, run the cluster of `unit` (postgresql@<version>-<cluster>) from the
    drop-in above; True when it changed (a daemon-reload is then due).  Nothing to do elsewhere."""
    import re
    match = re.fullmatch(r"postgresql@(\d+)-([A-Za-z0-9_.-]+)\.service", unit or "")
    if not match or not os.path.exists(PG_CTLCLUSTER):
        return False
    version, cluster = match.groups()
    if not os.path.exists(PG_DEBIAN_SERVER.format(version=version)):
        return False
    runtime = "postgresql"
    if int(version) < 15:  # its statistics collector writes into stats_temp_directory
        runtime += " postgresql/%s-%s.pg_stat_tmp" % (version, cluster)
    text = PG_DEBIAN.format(version=version, cluster=cluster, runtime=runtime)
    return units.write_file(os.path.join(PG_DEBIAN_DROP_INS.format(unit=unit), PG_DEBIAN_DROP_IN), text)


def postgresql_config_dir(family=None):
    """Where pg_hba.conf and postgresql.conf are: Debian's /etc/postgresql/<v>/main, else the data dir."""
    family = family or units.local_family()
    if family == "debian":
        return "/etc/postgresql/%s/main" % (units.postgresql_version() or "15")
    return "/var/lib/pgsql/data"


def pg_hba_admits(text, address):
    """True when a `host` line of pg_hba.conf lets address reach xCAT's database with a password."""
    import ipaddress
    wanted = ipaddress.ip_address(address)
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 5 or not fields[0].startswith("host") or fields[1] not in ("all", "xcatdb"):
            continue
        if fields[3] == "all":
            return True
        try:
            network = ipaddress.ip_network(fields[3] if "/" in fields[3] else fields[3] + "/" + fields[4],
                                           strict=False)
        except ValueError:
            continue
        if wanted in network:
            return True
    return False


def listen_addresses(texts):
    """The last listen_addresses setting among postgresql.conf and postgresql.auto.conf (in that order)."""
    value = "localhost"
    for text in texts:
        for line in text.splitlines():
            key, equals, rest = line.split("#", 1)[0].partition("=")
            if equals and key.strip() == "listen_addresses":
                value = rest.strip().strip("'\"")
    return [item.strip() for item in value.split(",")]


def access_problems(engine, vip, hosts, config_dir=None, datadir=None):
    """What keeps the database from being reached at the VIP from both hosts (xcatd connects from
    the host's own address): pgsqlsetup and mysqlsetup write only the installing MN's address."""
    if engine != "postgresql":
        return []  # MariaDB: mysqlsetup grants xcatadmin@'%'; its bind-address is checked by the db start
    config_dir = config_dir or postgresql_config_dir()
    datadir = datadir or PostgreSQL().datadir
    problems = []
    try:
        with open(os.path.join(config_dir, "pg_hba.conf"), encoding="utf-8") as stream:
            hba = stream.read()
    except OSError as error:
        return ["cannot read %s/pg_hba.conf: %s" % (config_dir, error.strerror)]
    for address in [vip, *hosts]:
        if not pg_hba_admits(hba, address):
            problems.append("pg_hba.conf does not admit %s (pgsqlsetup -i -a %s, or add "
                            "'host all all %s/32 md5')" % (address, address, address))
    texts = []
    for path in (os.path.join(config_dir, "postgresql.conf"), os.path.join(datadir, "postgresql.auto.conf")):
        try:
            with open(path, encoding="utf-8") as stream:
                texts.append(stream.read())
        except OSError:
            continue
    listening = listen_addresses(texts)
    if "*" not in listening and vip not in listening:
        problems.append("PostgreSQL listens on %s, not on the VIP %s (listen_addresses)" % (",".join(listening), vip))
    return problems


class MariaDB(Engine):
    name = "mysql"
    service = "mysql"
    executables = ("mariadbd", "mysqld")

    def default_datadir(self):
        return "/var/lib/mysql"

    def query(self, cfgloc, sql, deadline, timeout=10):
        client = "mariadb" if any(os.path.exists(os.path.join(d, "mariadb"))
                                  for d in run.SAFE_PATH.split(":")) else "mysql"
        argv = [client, "--no-defaults", "--connect-timeout=%d" % max(int(timeout), 2),
                "-h", cfgloc.host, "-u", cfgloc.user, "-D", cfgloc.dbname, "-N", "-B", "-e", sql]
        if cfgloc.port:
            argv[3:3] = ["-P", cfgloc.port]
        return run.run(argv, env={"MYSQL_PWD": cfgloc.password}, timeout=timeout, deadline=deadline,
                       quiet=True)


class SQLite(Engine):
    """No server: "running" means started here (a marker in /run) with readable tables."""

    name = "sqlite"

    def __init__(self, unit=None, datadir=None, family=None, instance="db"):
        super().__init__(unit, datadir or SQLITE_DIR, family)
        self.marker = os.path.join(STATE_DIR, "xcatha-db-%s.active" % instance)

    def quick_check(self, deadline):
        """What is wrong with the tables (None: nothing), found by a child within most of the
        deadline: on shared storage that hangs, the action fails in time with a reason (in-process
        it hung until the executor's timeout: fault run of seed 1204, storage-hang)."""
        budget = max(deadline.share(0.8), 1.0)
        try:
            result = run.run([run.python(), "-I", "-c", QUICK_CHECK_CODE, self.datadir], timeout=budget,
                             deadline=deadline, quiet=True)
        except run.CommandTimeout:
            return "the SQLite tables in %s do not answer within %.0fs (shared storage hung?)" % (self.datadir, budget)
        return None if result.ok else result.last_error_line()

    def start(self, cfgloc, deadline):
        problem = self.quick_check(deadline)
        if problem:
            raise OcfError(ExitCode.ERR_GENERIC, problem)
        os.makedirs(STATE_DIR, exist_ok=True)
        with open(self.marker, "w", encoding="utf-8") as stream:
            stream.write("started\n")

    def stop(self, deadline):
        if os.path.exists(self.marker):
            os.unlink(self.marker)

    def monitor(self, cfgloc_path, depth, deadline):
        if not os.path.exists(self.marker):
            return ExitCode.NOT_RUNNING, "not started here"
        problem = self.quick_check(deadline) if depth >= 10 else None
        if problem:
            return ExitCode.ERR_GENERIC, problem
        return ExitCode.SUCCESS, "SQLite tables readable"


def engine_for(name, unit=None, datadir=None, instance="db"):
    if name == "postgresql":
        return PostgreSQL(unit, datadir)
    if name == "mysql":
        return MariaDB(unit, datadir)
    return SQLite(unit, datadir, instance=instance)


DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}


def server_address(cfgloc):
    """(host, port) of the database server a parsed cfgloc names; None for SQLite (no cfgloc)."""
    if cfgloc is None or cfgloc.engine not in DEFAULT_PORTS:
        return None
    try:
        return cfgloc.host, int(cfgloc.port or DEFAULT_PORTS[cfgloc.engine])
    except ValueError:
        return None


def reachable(cfgloc, deadline, timeout=5.0):
    """None when xCAT's database answers a login with a parsed cfgloc's credentials at its host,
    else why not.  xcatd started without it does not fail: it retries every 8 s and its
    start job hangs in "activating" for up to 600 s."""
    if cfgloc is None:
        return None  # SQLite: files on the shared data, no server
    engine = engine_for(cfgloc.engine)
    try:
        result = engine.query(cfgloc, "SELECT 1", deadline, timeout=timeout)
    except run.CommandTimeout:
        return "no answer from %s at %s within %.0fs" % (cfgloc.engine, cfgloc.host, timeout)
    except FileNotFoundError as error:
        return "%s client not found (%s)" % (cfgloc.engine, error.filename)
    if not result.ok:
        return "%s at %s: %s" % (cfgloc.engine, cfgloc.host, result.last_error_line())
    return None


def start(engine, cfgloc_path, deadline):
    cfgloc = check_engine(engine.name, cfgloc_path, deadline)
    # cfgloc was read by a bounded child: storage that hangs has failed the start by now
    data = data_version(engine.name, engine.datadir)
    problem = version_problem(engine.name, data, server_versions(engine.name), unit=engine.unit) \
        if data[0] else None
    if problem:
        # rc 5: the software this data needs is not installed here; Pacemaker tries the other host
        raise OcfError(ExitCode.ERR_INSTALLED, "%s: %s" % problem)
    try:
        engine.start(cfgloc, deadline)
    except OcfError as error:
        if error.code != ExitCode.ERR_GENERIC or engine.daemon is None or not engine.datadir:
            raise
        start_when_space(engine, cfgloc, deadline, error)


# ---------------------------------------------------------------- a full shared filesystem
# MariaDB 10.11 aborts when a write finds the disk full ("[FATAL] InnoDB: Error (Out of disk
# space) in rollback"), and every restart aborts too until space is freed: its crash recovery
# must roll that write back, and it allocates its 12 MB ibtmp1 in the data directory.  Moving
# the group cannot help (the other host has the same storage), so a start that failed on a
# full filesystem waits there for space within its timeout and tries once more: an admin who
# frees space sees the MN come back at once.  PostgreSQL keeps serving (it refuses the write).
MIN_FREE = 64 * 2 ** 20   # below this, a failed start is put down to the full filesystem
SPACE_POLL = 1.0
RETRY_RESERVE = 20.0      # seconds of the start's timeout kept for the second attempt
QUICK_CHECK_CODE = (  # in a child: the tables are on the shared storage, which may hang
    "import os,sqlite3,sys\n"
    "try:\n"   # a directory that cannot be read says why (glob says nothing: "no tables" misled)
    "    files=sorted(os.path.join(sys.argv[1],f) for f in os.listdir(sys.argv[1]) if f.endswith('.sqlite'))\n"
    "except OSError as e:\n"
    "    print('cannot list %s: %s' % (sys.argv[1], e.strerror)); sys.exit(1)\n"
    "if not files:\n"
    "    print('no SQLite tables in %s' % sys.argv[1]); sys.exit(1)\n"
    "for path in files:\n"
    "    try:\n"
    "        c=sqlite3.connect('file:%s?mode=ro' % path, uri=True, timeout=5)\n"
    "        verdict=c.execute('PRAGMA quick_check').fetchone()[0]; c.close()\n"
    "    except sqlite3.Error as e:\n"
    "        print('%s: %s' % (path, e)); sys.exit(1)\n"
    "    if verdict != 'ok':\n"
    "        print('%s: quick_check says %s' % (path, verdict)); sys.exit(1)\n")

FREE_CODE = (  # in a child: statvfs on storage that hangs must not hang the agent
    "import os,sys\n"
    "try:\n"
    "    s=os.statvfs(sys.argv[1]); print(s.f_bavail*s.f_frsize)\n"
    "except OSError as e:\n"
    "    sys.stderr.write(e.strerror + '\\n'); sys.exit(1)\n")


def free_space(path, deadline):
    """Bytes an unprivileged server may still write under path, or None when unknown."""
    try:
        result = run.run([run.python(), "-I", "-c", FREE_CODE, path], timeout=max(min(deadline.share(0.2), 5.0), 0.5),
                         deadline=deadline, quiet=True)
    except run.CommandTimeout:
        return None
    try:
        return int(result.stdout) if result.ok else None
    except ValueError:
        return None


def start_when_space(engine, cfgloc, deadline, failure):
    """After a failed start: when the data directory's filesystem is full, wait for space (while
    more than RETRY_RESERVE of the timeout is left) and start again; otherwise the failure stands,
    naming the full filesystem when it is the cause."""
    free = free_space(engine.datadir, deadline)
    if free is None or free >= MIN_FREE:
        raise failure
    log.warning("%s did not start (%s); the filesystem of %s is full (%d MB free): waiting for space until "
                "%.0f s before the start's timeout", engine.name, failure.reason, engine.datadir, free // 2 ** 20,
                RETRY_RESERVE)
    while free < MIN_FREE and deadline.remaining() > RETRY_RESERVE + SPACE_POLL:
        time.sleep(SPACE_POLL)
        free = free_space(engine.datadir, deadline)
        if free is None:
            raise failure
    if free < MIN_FREE:
        # first what to do: Pacemaker keeps 128 characters of an exit reason
        raise OcfError(ExitCode.ERR_GENERIC, "the filesystem of %s is full (%d MB free): free space there; %s"
                       % (engine.datadir, free // 2 ** 20, failure.reason))
    log.info("%s: %d MB free in %s now; starting again", engine.name, free // 2 ** 20, engine.datadir)
    engine.start(cfgloc, deadline)


# ---------------------------------------------------------------- can this host's server open the data?
# PostgreSQL opens only a data directory of its own major version (PG_VERSION); MariaDB opens
# older data but upgrades it (Debian's debian-start runs mariadb-upgrade at every start), after
# which the other host's older server can no longer open it: both must be the same major.
PG_BINARIES = ("/usr/lib/postgresql/*/bin/postgres", "/usr/pgsql-*/bin/postgres", "/usr/bin/postgres")
MARIADB_BINARIES = ("/usr/sbin/mariadbd", "/usr/sbin/mysqld", "/usr/libexec/mariadbd", "/usr/libexec/mysqld")
MARIADB_UPGRADE_INFO = ("mariadb_upgrade_info", "mysql_upgrade_info")


def major_of(engine, version):
    """PostgreSQL >= 10: 15.4 -> 15; MariaDB: 10.11.6-MariaDB -> 10.11."""
    import re
    match = re.search(r"(\d+)\.(\d+)", version or "") or re.search(r"(\d+)", version or "")
    if not match:
        return None
    if engine == "postgresql":
        return match.group(1) if int(match.group(1)) >= 10 else "%s.%s" % match.groups()
    return ".".join(match.groups())


def data_version(engine, datadir):
    """(major, where it is written) of the data the server would open, or (None, None)."""
    if engine == "postgresql" and datadir:
        candidates = [os.path.join(datadir, "PG_VERSION")]
        # Debian: /var/lib/postgresql/<major>/main; the data of another major is beside it
        candidates += sorted(glob.glob(os.path.join(os.path.dirname(os.path.dirname(datadir)), "*", "main",
                                                    "PG_VERSION")))
        for path in candidates:
            try:
                with open(path, encoding="ascii") as stream:
                    return stream.read().strip(), path
            except (OSError, UnicodeDecodeError):
                continue
    if engine == "mysql" and datadir:
        for name in MARIADB_UPGRADE_INFO:
            path = os.path.join(datadir, name)
            try:
                with open(path, encoding="ascii", errors="replace") as stream:
                    return major_of(engine, stream.read().strip("\0 \n")), path
            except OSError:
                continue
    return None, None


def server_versions(engine):
    """{major: full version} of the servers installed here (Debian may have several PostgreSQLs)."""
    found = {}
    patterns = PG_BINARIES if engine == "postgresql" else MARIADB_BINARIES if engine == "mysql" else ()
    for pattern in patterns:
        for binary in sorted(glob.glob(pattern)):
            if not os.access(binary, os.X_OK):
                continue
            try:
                result = run.run([binary, "--version"], timeout=10, quiet=True)
            except (OSError, run.CommandTimeout):
                continue
            major = major_of(engine, result.stdout.split("Ver", 1)[-1]) if result.ok else None
            if major:
                found.setdefault(major, result.stdout.strip().splitlines()[0])
        if engine == "mysql" and found:
            break  # one MariaDB per host; mysqld is often a link to mariadbd
    return found


def version_problem(engine, data, installed, unit=None, host=None):
    """(what to do, why) when this host's server cannot open the data; None when it can.  The
    fix comes first in an exit reason: Pacemaker keeps only its first 128 characters."""
    major, where = data
    if major is None or engine not in ("postgresql", "mysql"):
        return None  # no data yet (a first start), or SQLite
    host = host or _own_name()
    have = ", ".join(sorted(installed, key=_version_key)) or "none"
    if engine == "postgresql":
        if major not in installed:
            return ("install PostgreSQL %s on %s" % (major, host),
                    "the database in %s is PostgreSQL %s (PG_VERSION) but %s has PostgreSQL %s; a data directory "
                    "moves to another major version only with pg_upgrade" % (os.path.dirname(where), major, host,
                                                                              have))
        unit_major = unit.split("@", 1)[1].split("-", 1)[0] if unit and "@" in unit else None
        if unit_major and unit_major != major:
            return ("set [database] unit = postgresql@%s-main in cluster.conf, then xcatha cluster-config apply"
                    % major, "the database in %s is PostgreSQL %s but %s would run %s"
                    % (os.path.dirname(where), major, host, unit))
        return None
    if not installed:
        return None  # the unit's start says what is missing
    server = sorted(installed, key=_version_key)[-1]
    if server == major:
        return None
    if _version_key(server) < _version_key(major):
        return ("upgrade MariaDB on %s to %s" % (host, major),
                "the database in %s was last upgraded by MariaDB %s (%s) but %s has MariaDB %s"
                % (os.path.dirname(where), major, os.path.basename(where), host, server))
    return ("upgrade MariaDB to %s on the other host too, then run mariadb-upgrade once with the group unmanaged "
            "(pcs resource unmanage xcatmn)" % server,
            "the database in %s is MariaDB %s (%s) and %s's MariaDB %s would upgrade it so that the other host's "
            "could no longer open it" % (os.path.dirname(where), major, os.path.basename(where), host, server))


def _version_key(text):
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def _own_name():
    from xcatha import shared_data
    return shared_data.own_name()
