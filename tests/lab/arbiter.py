"""The lab's arbiter: corosync-qnetd and pcsd in the client namespace, as a site runs them on
a third host (a service or login node), set up the way pcs documents it for such a host.

The client namespace shares the host's files, and other labs run beside this one: the
arbiter's own state (qnetd's certificate database, pcsd's tokens, its log, the runtime
directory, a password file giving hacluster the lab's password for pcsd's PAM login) lives
in the lab's work dir and is bind-mounted in a private mount namespace.  Its processes
run in the client's network namespace, so `lab down` ends them with every other process
there.
"""
import os
import shutil
import signal
import subprocess
import time

from .util import kill_and_wait, log, pid_alive, read_pidfile, run, wait_for

QNETD_PORT = 5403
PCSD_PORT = 2224
MOUNTS = (("pcsd", "/var/lib/pcsd"), ("pcsd-log", "/var/log/pcsd"), ("qnetd", "/etc/corosync/qnetd"))
SCRIPT = r"""
d=$1
for pair in pcsd:/var/lib/pcsd pcsd-log:/var/log/pcsd qnetd:/etc/corosync/qnetd; do
    mount --bind "$d/${pair%%:*}" "${pair#*:}"
done
mount --bind "$d/shadow" /etc/shadow
mount -t tmpfs -o mode=0755 arbiter-run /run
mkdir -p /run/corosync-qnetd
test -e /etc/corosync/qnetd/nssdb/cert9.db || corosync-qnetd-certutil -i >"$d/certutil.log" 2>&1
chown -R coroqnetd:coroqnetd /etc/corosync/qnetd /run/corosync-qnetd
setpriv --reuid=coroqnetd --regid=coroqnetd --init-groups corosync-qnetd -f -d >"$d/qnetd.log" 2>&1 &
(cd /var/lib/pcsd && exec /usr/share/pcsd/pcsd) >"$d/pcsd-ruby.log" 2>&1 &
exec /usr/sbin/pcsd >"$d/pcsd.log" 2>&1
"""


def directory(cfg):
    return cfg.workdir / "arbiter"


def address(cfg):
    """The arbiter is the client's address."""
    return cfg.client_ip


def _pidfile(cfg):
    return directory(cfg) / "arbiter.pid"


def running(lab):
    pid = read_pidfile(_pidfile(lab.cfg))
    return pid is not None and pid_alive(pid)


def _shadow(cfg):
    """The host's /etc/shadow with hacluster's password set to the lab's (for pcsd's PAM login only)."""
    hashed = run(["openssl", "passwd", "-6", cfg.hacluster_password]).stdout.strip()
    lines = []
    for line in open("/etc/shadow").read().splitlines():
        fields = line.split(":")
        if fields[0] == "hacluster":
            fields[1] = hashed
        lines.append(":".join(fields))
    return "\n".join(lines) + "\n"


def start(lab, timeout=60):
    """corosync-qnetd and pcsd up in the client namespace (idempotent)."""
    if running(lab):
        return
    cfg = lab.cfg
    top = directory(cfg)
    for name, _ in MOUNTS:
        (top / name).mkdir(parents=True, exist_ok=True)
    (top / "pcsd").chmod(0o700)
    shadow = top / "shadow"
    shadow.write_text(_shadow(cfg))
    shadow.chmod(0o640)
    shutil.chown(shadow, "root", "shadow")
    argv = ["ip", "netns", "exec", cfg.netns("client"), "unshare", "--mount", "--propagation", "private",
            "/bin/sh", "-ec", SCRIPT, "arbiter", str(top)]
    env = dict(os.environ, PCSD_DISABLE_GUI="true", RACK_ENV="production", PCSD_DEBUG="false")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env, start_new_session=True, cwd="/")
    _pidfile(cfg).write_text("%d\n" % proc.pid)
    if not wait_for(lambda: _listening(lab, QNETD_PORT) and _listening(lab, PCSD_PORT), timeout, 0.5):
        raise RuntimeError("the arbiter is not listening on %d and %d after %ds; see %s"
                           % (QNETD_PORT, PCSD_PORT, timeout, top))
    log.info("arbiter: corosync-qnetd and pcsd up at %s", address(cfg))


def _listening(lab, port):
    out = lab.client_exec(["ss", "-ltnH", "sport = :%d" % port], timeout=10).stdout
    return bool(out.strip())


def stop(lab):
    """End the arbiter's processes (every process of its session)."""
    pid = read_pidfile(_pidfile(lab.cfg))
    if pid is None or not pid_alive(pid):
        return
    group = [p for p in _session(pid)]
    left = kill_and_wait(group, signal.SIGTERM, 5)
    kill_and_wait(left, signal.SIGKILL, 5)
    _pidfile(lab.cfg).unlink(missing_ok=True)
    log.info("arbiter: stopped")


def _session(leader):
    """The processes of the session the arbiter's shell leads."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as stream:
                fields = stream.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == leader:  # field 6 of stat: the session id
            found.append(int(entry))
    return found


def join(lab, via, timeout=120):
    """`pcs host auth` of the arbiter from a node, as an admin does before `pcs quorum device add`."""
    start_at = time.monotonic()
    result = lab.node(via).exec(["pcs", "host", "auth", address(lab.cfg), "-u", "hacluster", "-p",
                                 lab.cfg.hacluster_password], timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError("pcs host auth of the arbiter: %s" % (result.stderr or result.stdout).strip()[-500:])
    log.info("arbiter: known to pcs on %s (%.1f s)", via, time.monotonic() - start_at)


def config_text(cfg):
    """The lab's cluster.conf with the arbiter: [quorum] arbiter, and no fence delay."""
    from . import pair
    text = pair.cluster_config_text(cfg)
    lines = [line for line in text.splitlines() if not line.startswith("fence_delay")]
    return "\n".join(lines) + "\n\n[quorum]\narbiter = %s\n" % address(cfg)


def _apply(lab, text):
    from . import pair, xcat
    for name in lab.cfg.node_names:
        lab.node(name).exec(["install", "-D", "-m", "0600", "/dev/stdin", pair.NODE_CONFIG], input=text, check=True)
    via = pair.any_running_node(lab)
    xcat.check(via.exec(["xcatha", "cluster-config", "apply", "--force", "-c", pair.NODE_CONFIG], timeout=300),
               "xcatha cluster-config apply --force")


def enable(lab):
    """The pair with the arbiter, as an admin sets it up: qnetd and pcsd on the third host, `pcs host
    auth` of it from the nodes, [quorum] arbiter in cluster.conf, `xcatha cluster-config apply --force`
    (which removes the fence delay)."""
    start(lab)
    for name in lab.cfg.node_names:
        join(lab, name)
    _apply(lab, config_text(lab.cfg))


def disable(lab):
    """Back to the lab's usual pair (fence delay on host2, no quorum device), the arbiter stopped."""
    from . import pair
    _apply(lab, pair.cluster_config_text(lab.cfg))
    stop(lab)


def configured(lab, via):
    """The quorum device's host as the running corosync on node `via` has it, or None."""
    out = lab.node(via).exec(["corosync-cmapctl", "-g", "quorum.device.net.host"], timeout=30).stdout
    return out.rsplit("=", 1)[1].strip() if "=" in out else None
