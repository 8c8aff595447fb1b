"""The MN's services after the database, in the seed's order: xcatd, named, DHCP, the console
server, and the HTTP server that provisioning needs.

Each one verifies that it really serves, where xCAT's own tools start them
blindly: xcatd's ports accept connections (and its TFTP server runs), named
answers for the VIP's name with the VIP, the DHCP server is bound to UDP 67,
the console server listens, the HTTP server serves xCAT's /install.
"""
import os

from xcatha import processes, run, units, xcat
from xcatha.daemons import Daemon, tcp_accepts
from xcatha.log import log
from xcatha.ocf import STATE_DIR, ExitCode, OcfError


class Xcatd(Daemon):
    """xcatd: ports 3001 (xcatdport) and 3002 (xcatiport)."""

    PROCESS_MARKS = ("/opt/xcat/sbin/xcatd", "xcatd:")

    def __init__(self, unit=None, port=3001, install_port=3002, lsxcatd_timeout=10, cfgloc="/etc/xcat/cfgloc",
                 tftp=True):
        super().__init__("xcatd", unit)
        self.port, self.install_port, self.lsxcatd_timeout = port, install_port, lsxcatd_timeout
        self.cfgloc, self.tftp = cfgloc, tftp

    def tftp_serving(self, state):
        """xcatd kills and starts xCAT's TFTP server (in.tftpd) itself at every start, in its own
        cgroup (AAsn.pm); it dies with xcatd.  None when it serves UDP 69, else what is wrong."""
        pids = state.processes()
        if 69 not in processes.bound_ports("udp", pids):
            return "xcatd runs but its TFTP server (in.tftpd) does not serve UDP port 69"
        return None

    def ready(self):
        return tcp_accepts(self.port) or tcp_accepts(self.install_port)

    # Once its listeners are closed, xcatd's shutdown connects to its database (monitoring's
    # notification table, the site table), three tries each: with the database or the VIP gone
    # that alone took 15 s, or the unit's 30 s until systemd's SIGKILL (fault lab: kill-postgres,
    # vip-removed).  It can write nothing then: a short grace, then SIGKILL.
    DEAD_DATABASE_GRACE = 2.0

    def _database_file(self):
        return os.path.join(STATE_DIR, "xcatha-xcatd-database-%s" % self.unit)

    def start(self, deadline):
        from xcatha import db
        cfgloc = db.read_cfgloc(self.cfgloc, deadline)   # once, by a bounded child: it is on the shared storage
        problem = db.reachable(cfgloc, deadline)
        if problem:
            raise OcfError(ExitCode.ERR_GENERIC, "xcatd needs its database, which does not answer: %s" % problem)
        self._remember_database(db.server_address(cfgloc))
        super().start(deadline, ready=self.ready_with_tftp)

    def _remember_database(self, address):
        """host and port of the database server (no credentials), for the stop: cfgloc lives on
        the shared storage, which the stop must not wait for."""
        try:
            if address is None:
                os.unlink(self._database_file())
            else:
                os.makedirs(STATE_DIR, exist_ok=True)
                with open(self._database_file(), "w", encoding="utf-8") as stream:
                    stream.write("%s %d\n" % address)
        except OSError as error:  # only the stop's hint
            log.debug("cannot remember xcatd's database: %s", error)

    def stop_grace(self, state):
        """DEAD_DATABASE_GRACE when xcatd runs and its database server does not accept a
        connection, else None (the unit's own stop)."""
        if not (state.active or state.main_alive):
            return None
        try:
            with open(self._database_file(), encoding="utf-8") as stream:
                host, port = stream.read().split()
        except (OSError, ValueError):
            return None  # SQLite, or started by an older xcatha
        problem = tcp_accepts(int(port), host)
        if problem is None:
            return None
        log.warning("xcatd's database does not answer (%s): its shutdown gets %.0f s, then SIGKILL",
                    problem, self.DEAD_DATABASE_GRACE)
        return self.DEAD_DATABASE_GRACE

    def ready_with_tftp(self):
        return self.ready() or (self.tftp_serving(self.state()) if self.tftp else None)

    def stop(self, deadline, rollback=False):
        super().stop(deadline, rollback=rollback)
        # An xcatd started by hand outside the unit would still serve the shared database.
        strays = sorted({pid for mark in self.PROCESS_MARKS for pid in processes.matching(mark)})
        if strays:
            log.warning("xcatd processes outside %s: %s", self.unit, " ".join(map(str, strays)))
            left = processes.terminate(strays, deadline, grace=min(deadline.share(0.5), 5.0))
            if left and not rollback:
                raise OcfError(ExitCode.ERR_GENERIC, "xcatd processes survive stop: %s" % " ".join(map(str, left)))

    def serving(self, state, depth, deadline):
        if self.port not in processes.bound_ports("tcp"):
            return "xcatd runs but nothing listens on port %d" % self.port
        if self.tftp:
            problem = self.tftp_serving(state)
            if problem:
                return problem
        if depth >= 10:
            facts = xcat.lsxcatd(deadline, timeout=min(self.lsxcatd_timeout, deadline.share(0.8)))
            if facts.get("role") != "mn":
                return "lsxcatd -a does not say this is a Management Node"
        return None


class Named(Daemon):
    """named: `makedns -n`, then an A (AAAA) query for the VIP's name must return the VIP."""

    def __init__(self, address, hostname, use_makedns=True, unit=None):
        super().__init__("named", unit)
        self.address, self.hostname, self.use_makedns = address, hostname, use_makedns

    def query(self, timeout=2.0):
        """None when named at the VIP answers the VIP's name with the VIP, else what went wrong.
        Asked with dig, BIND's own client (xCAT needs bind-utils for makedns anyway)."""
        record = "A" if self.address.version == 4 else "AAAA"
        argv = ["dig", "+short", "+time=%d" % max(int(timeout), 1), "+tries=1", "@%s" % self.address,
                self.hostname, record]
        try:
            result = run.run(argv, timeout=timeout + 2, quiet=True)
        except FileNotFoundError:
            raise OcfError(ExitCode.ERR_INSTALLED, "dig not found: install bind-utils (bind9-dnsutils)") from None
        except run.CommandTimeout:
            return "%s %s @%s: no answer in time" % (record, self.hostname, self.address)
        answers = result.stdout.split()
        if not result.ok or not answers:
            return "%s %s @%s: no answer (%s)" % (record, self.hostname, self.address,
                                                  result.last_error_line() if not result.ok else "empty")
        if str(self.address) not in answers:
            return "%s resolves to %s, not %s" % (self.hostname, ", ".join(answers), self.address)
        return None

    def start(self, deadline):
        steps = [lambda: xcat.run_command("makedns", ["-n"], deadline)] if self.use_makedns else []
        super().start(deadline, steps_before=steps, ready=self.query)

    def serving(self, state, depth, deadline):
        if depth >= 10:
            problem = self.query(timeout=min(5.0, deadline.share(0.8)))
            if problem:
                return "named does not answer: %s" % problem
        return None



class Dhcpd(Daemon):
    """The DHCP server: `makedhcp -n`, the server bound to UDP 67, then `makedhcp -a`.

    backend is site.dhcpbackend's choice: ISC dhcpd, or Kea (xCAT 2.19, the default on
    EL10 and Ubuntu >= 22.04).  With Kea, makedhcp enables at boot every Kea unit it
    (re)starts; start disables them again, and stop stops them all."""

    def __init__(self, use_makedhcp=True, unit=None, config=None, backend="isc"):
        super().__init__("kea-dhcp4" if backend == "kea" else "dhcpd", unit)
        self.use_makedhcp, self.backend = use_makedhcp, backend
        # where makedhcp writes it on this distro (SLES: /etc/dhcpd.conf) unless given
        self.config = config or units.dhcp_config(backend, units.local_distro())

    def companions(self):
        """The Kea companion daemons installed here (none for ISC dhcpd)."""
        if self.backend != "kea":
            return []
        found = (Daemon(service) for service in units.KEA_COMPANIONS)
        return [daemon for daemon in found if units.unit_exists(daemon.unit)]

    def bound(self, state=None):
        pids = (state or self.state()).processes()
        if not pids:
            return "no server process"
        if 67 not in processes.bound_ports("udp", pids):
            return "the server is not bound to UDP port 67"
        return None

    def start(self, deadline):
        if self.backend == "isc" and not self.state(deadline).active and adapt_dhcpd():
            units.daemon_reload(deadline)  # once, on a pair set up before xcatha had the unit
            log.warning("%s: Debian's init script replaced by a native unit (%s); `xcatha setup finish` "
                        "installs it ahead of a failover", self.unit, DHCPD_DEBIAN_UNIT)
        companions = self.companions()
        for companion in companions:
            units.take_over(companion.unit, companion.service, deadline)
        before = [lambda: xcat.run_command("makedhcp", ["-n"], deadline)] if self.use_makedhcp else []
        if self.backend == "kea" and self.use_makedhcp:
            before.append(lambda: self.refuse_isc_path(deadline))
        after = [lambda: xcat.run_command("makedhcp", ["-a"], deadline)] if self.use_makedhcp else []
        if self.backend == "kea":
            after.append(lambda: units.disable_at_boot([self.unit] + [c.unit for c in companions], deadline))
        super().start(deadline, steps_before=before, steps_after=after, ready=self.bound)

    def refuse_isc_path(self, deadline):
        """makedhcp -n follows site.dhcpbackend (auto: ISC on Debian, EL < 10, Ubuntu < 22.04);
        when that does not select Kea it writes dhcpd.conf and restarts ISC dhcpd, which then
        holds UDP 67 and Kea cannot bind.  Stop that server again and say why, instead of waiting
        for Kea in vain.  The cause the lab met: the resource's backend and site.dhcpbackend
        disagreed (an apply that kept backend=kea after cluster.conf went back to isc)."""
        isc = Daemon("dhcpd")
        if not units.unit_exists(isc.unit) or not isc.state(deadline).active:
            return
        isc.stop(deadline, rollback=True)
        log.error("site.dhcpbackend does not select Kea on this host (lsdef -t site -i dhcpbackend), but this "
                  "resource has backend=kea: make [dhcp] backend in /etc/xcatha/cluster.conf say the same on "
                  "both hosts and run `xcatha cluster-config apply`")
        # the cause first: Pacemaker shows the first 128 characters of an exit reason
        raise OcfError(ExitCode.ERR_GENERIC, "backend=kea but site.dhcpbackend selects ISC: makedhcp -n started "
                       "%s (stopped again)" % isc.unit)

    def stop(self, deadline, rollback=False):
        super().stop(deadline, rollback=rollback)
        for companion in self.companions():
            companion.stop(deadline, rollback=rollback)

    def serving(self, state, depth, deadline):
        problem = self.bound(state)
        if problem or depth < 10:
            return problem
        if self.backend == "kea":
            result = run.run(["kea-dhcp4", "-t", self.config], deadline=deadline, timeout=10)
            if not result.ok:
                return "kea-dhcp4 -t rejects %s: %s" % (self.config, result.last_error_line())
            return None
        result = run.run(["dhcpd", "-t", "-q", "-cf", self.config], deadline=deadline, timeout=10)
        if not result.ok:
            return "dhcpd -t rejects %s: %s" % (self.config, result.last_error_line())
        return None


# Debian ships ISC dhcpd with an init script only: its start sleeps 2 s before it checks the
# pid file, and the unit systemd generates from it stays "active (exited)" when dhcpd dies
# (RemainAfterExit=yes, no main pid), so no stop hook can see the death.  This unit runs
# dhcpd in the foreground the way RHEL's native dhcpd.service does, from the same files as
# the script: /etc/default/isc-dhcp-server (INTERFACESv4, or INTERFACES as makedhcp -n
# writes it; DHCPDv4_CONF, DHCPDv4_PID) and the leases file.  Its name stays
# isc-dhcp-server.service, the one xCAT's makedhcp -n restarts, so that path is unchanged.
DHCPD_DEBIAN_UNIT = "/etc/systemd/system/isc-dhcp-server.service"
DHCPD_DEBIAN = """\
# Written by xcatha: ISC dhcpd as RHEL's native unit runs it, instead of Debian's init script
# (which sleeps 2 s at each start and stays "active" when dhcpd dies).  Same files as the script.
[Unit]
Description=ISC DHCP IPv4 server
Documentation=man:dhcpd(8)
Wants=network-online.target
After=network-online.target

[Service]
Type=exec
EnvironmentFile=-/etc/default/isc-dhcp-server
ExecStartPre=/usr/bin/touch /var/lib/dhcp/dhcpd.leases
ExecStart=/bin/sh -ec 'exec /usr/sbin/dhcpd -f -4 -q -cf "$${DHCPDv4_CONF:-/etc/dhcp/dhcpd.conf}" \
-pf "$${DHCPDv4_PID:-/run/dhcpd.pid}" $${INTERFACESv4:-$$INTERFACES}'

[Install]
WantedBy=multi-user.target
"""


DHCPD_INIT_SCRIPT = "/etc/init.d/isc-dhcp-server"
DHCPD_SHIPPED_UNITS = ("/lib/systemd/system/isc-dhcp-server.service", "/usr/lib/systemd/system/isc-dhcp-server.service")


def adapt_dhcpd():
    """On Debian, run ISC dhcpd from a native unit (DHCPD_DEBIAN); True when it changed
    (a daemon-reload is then due).  Nothing to do where the distro ships a unit (Ubuntu)."""
    import os
    if not os.path.exists(DHCPD_INIT_SCRIPT) or any(os.path.exists(path) for path in DHCPD_SHIPPED_UNITS):
        return False
    return units.write_file(DHCPD_DEBIAN_UNIT, DHCPD_DEBIAN)


# Debian ships conserver as conserver-server: reading /etc/conserver/conserver.cf as user
# conservr, with an init script of that name.  xCAT's makeconservercf writes /etc/conserver.cf
# (naming root's xCAT credentials, mode 0600) and restarts `/etc/init.d/conserver` — which
# does not exist there, so without this the console server silently never changes.
CONSOLERC = "/root/.consolerc"
CONSERVER_DEBIAN = (
    ("/etc/systemd/system/conserver-server.service.d/50-xcat.conf",
     "# Written by xcatha: conserver runs the configuration xCAT's makeconservercf writes.\n"
     "[Service]\nUser=root\nExecStart=\nExecStart=/usr/sbin/conserver -d -C /etc/conserver.cf\n"),
    # root's `console` (and xCAT's rcons) reach it with xCAT's credentials on xCAT's port
    (CONSOLERC,
     "# Written by xcatha: the console server as xCAT's conserver.cf configures it.\n"
     "config * {\n  port 782;\n  sslenabled yes;\n  sslcacertificatefile /root/.xcat/ca.pem;\n"
     "  sslcredentials /root/.xcat/client-cred.pem;\n}\n"),
)
CONSERVER_ALIASES = (("/etc/init.d/conserver", "/etc/init.d/conserver-server"),
                     ("/etc/systemd/system/conserver.service", "/lib/systemd/system/conserver-server.service"))


def adapt_conserver():
    """Make Debian's conserver-server the console server makeconservercf drives; True when
    something changed (then a daemon-reload is due).  Nothing to do elsewhere."""
    import os
    if not os.path.exists("/etc/init.d/conserver-server") or os.path.exists("/lib/systemd/system/conserver.service"):
        return False
    changed = False
    for path, text in CONSERVER_DEBIAN:
        if path == CONSOLERC and os.path.exists(path):
            continue  # an admin's own ~/.consolerc is theirs
        changed = units.write_file(path, text) or changed
    for link, target in CONSERVER_ALIASES:
        if os.path.islink(link) and os.readlink(link) == target:
            continue
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(target, link)
        changed = True
    return changed


class Console(Daemon):
    """conserver or goconserver.  makeconservercf/makegocons enable the unit at boot
    (xcat-core#6177); on a standby that would start the console server at boot,
    so start disables it again."""

    COMMANDS = {"conserver": "makeconservercf", "goconserver": "makegocons"}
    # conserver exits at once on SIGTERM, but xCAT's console scripts it runs (cons/ipmi through
    # xCAT::Client) abort their xcatd request and sleep 2 s in their TERM handler, longer while
    # they retry an unreachable BMC: the unit's stop took 4.1 s in the lab, the longest stop
    # of a planned move.  What they leave is cleared by the next script's `sol deactivate`.
    STOP_GRACE = {"conserver": 1.0}

    def __init__(self, console="conserver", unit=None, port=None):
        super().__init__(console, unit)
        self.console, self.port = console, port

    def listening(self, state=None):
        pids = (state or self.state()).processes()
        ports = processes.bound_ports("tcp", pids) if pids else set()
        if not ports:
            return "%s is not listening" % self.console
        if self.port and self.port not in ports:
            return "%s listens on %s, not on %d" % (self.console, ", ".join(map(str, sorted(ports))), self.port)
        return None

    def start(self, deadline):
        command = self.COMMANDS[self.console]
        super().start(deadline, steps_before=[lambda: xcat.run_command(command, [], deadline)],
                      steps_after=[lambda: units.disable_at_boot([self.unit], deadline)],
                      ready=self.listening)

    def serving(self, state, depth, deadline):
        return self.listening(state)

    def stop_grace(self, state):
        return self.STOP_GRACE.get(self.console)



class Http(Daemon):
    """The HTTP server through which nodes fetch /install (images, postscripts) and xCAT's
    web paths: apache2 or httpd with xCAT's xcat.conf.  xcatconfig enables it at boot;
    start disables it again, as for the other services."""

    def __init__(self, unit=None, port=80, path="/install/postscripts/"):
        super().__init__("http", unit)
        self.port, self.path = port, path

    def ready(self):
        return tcp_accepts(self.port)

    def start(self, deadline):
        super().start(deadline, ready=self.ready)

    def serving(self, state, depth, deadline):
        problem = self.ready()
        if problem or depth < 10:
            return problem
        return http_get(self.port, self.path, timeout=min(5.0, deadline.share(0.8)))


def http_get(port, path, host="127.0.0.1", timeout=5.0):
    """None when GET path answers 200, else what went wrong."""
    import http.client
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        if response.status != 200:
            return "GET http://%s:%d%s: %d %s" % (host, port, path, response.status, response.reason)
        return None
    except OSError as error:
        return "GET http://%s:%d%s: %s" % (host, port, path, error)
    finally:
        connection.close()
