"""xcatha setup / activate / deactivate by hand, as an admin without Pacemaker would use them."""
import hashlib
import os

import pytest
from lab import pair

from .conftest import wait_until

HOST1, HOST2 = "host1", "host2"


@pytest.fixture(scope="module")
def fresh_pair(manual):
    manual.up()
    manual.setup_fresh_pair()
    return manual


# host2 is the MN in most tests: its PostgreSQL writes its data directory in the shared data
# (WAL, checkpoints) whatever a command on host1 does; the server's main pid is compared instead
LIVE_DB = "var/lib/postgresql/"


def node_state(manual, node, shared=True, skip=None):
    """Every file the node has written (its own disk layer, /etc/hosts included) and the shared data,
    with checksums, plus its addresses and hostname; `skip`: a directory of the shared data left out."""
    files = []
    for root in (manual.lab.node(node).upper,) + ((manual.cfg.shared_data,) if shared else ()):
        for path in sorted(root.rglob("*")):
            relative = str(path.relative_to(root))
            if relative.startswith(("var/log/journal", "var/lib/systemd", "tmp/")) or path.is_socket():
                continue
            if skip and root == manual.cfg.shared_data and relative.startswith(skip):
                continue
            if path.is_symlink():
                files.append((relative, "->", os.readlink(path)))
            elif path.is_file():
                files.append((relative, hashlib.md5(path.read_bytes()).hexdigest()))
            else:
                files.append((relative, "dir"))
    n = manual.lab.node(node)
    return set(files), n.exec(["ip", "-o", "addr"]).stdout, n.exec(["hostname"]).stdout


def assert_unchanged(before, after, except_log=False):
    changed = sorted(before[0] ^ after[0])
    if except_log:  # a refused action still says so in its log
        changed = [entry for entry in changed if entry[0] != "var/log/xcat/xcatha.log"]
    assert changed == []
    assert before[1:] == after[1:]


def standby_is_clean(manual, node):
    n = manual.lab.node(node)
    assert manual.cfg.vip + "/" not in n.exec(["ip", "-o", "addr"]).stdout
    assert n.exec(["hostname"]).stdout.strip() == node
    for path in ("/install", "/etc/xcat", "/root/.xcat", "/tftpboot", "/var/lib/postgresql"):
        assert n.exec(["test", "-L", path]).returncode != 0, path
    for unit in ("postgresql@15-main", "xcatd", "named", "isc-dhcp-server", "conserver-server", "apache2"):
        assert n.exec(["systemctl", "is-active", unit]).stdout.strip() != "active", unit
        assert n.exec(["systemctl", "is-enabled", unit]).stdout.strip() not in ("enabled",), unit


def test_setup_scenario_1_leaves_two_clean_standbys(fresh_pair):
    for node in (HOST1, HOST2):
        standby_is_clean(fresh_pair, node)
        assert fresh_pair.x(node, "systemctl", "is-enabled", "xcatha-boot-cleanup").stdout.strip() == "enabled"
    assert (fresh_pair.cfg.shared_data / "etc/xcat/cfgloc").exists()


def test_failover_scenario_1_planned(fresh_pair):
    out = fresh_pair.xcatha(HOST1, "activate").stdout
    assert "This host is the active MN" in out
    assert all(fresh_pair.answers().values())
    fresh_pair.xcatha(HOST1, "deactivate")
    standby_is_clean(fresh_pair, HOST1)
    fresh_pair.xcatha(HOST2, "activate")
    assert all(fresh_pair.answers().values())
    assert "started" in fresh_pair.xcatha(HOST2, "status").stdout


def test_activate_twice_changes_nothing(fresh_pair):
    active = HOST2
    node = fresh_pair.lab.node(active)
    before = (node.exec(["systemctl", "show", "-p", "MainPID", "named", "postgresql@15-main", "xcatd"]).stdout,
              node.exec(["ip", "-o", "addr"]).stdout, node.exec(["hostname"]).stdout)
    out = fresh_pair.xcatha(active, "activate").stdout
    assert out.count("already running") == len(pair.MEMBERS)
    after = (node.exec(["systemctl", "show", "-p", "MainPID", "named", "postgresql@15-main", "xcatd"]).stdout,
             node.exec(["ip", "-o", "addr"]).stdout, node.exec(["hostname"]).stdout)
    assert after == before
    assert all(fresh_pair.answers().values())


def test_activate_refused_while_the_other_host_is_the_mn(fresh_pair):
    # host2 is active and powered on: activating host1 must be refused, changing nothing anywhere
    # (but host2's own database server, live on the shared data: its main pid must stay)
    server = postmaster(fresh_pair, HOST2)
    before = node_state(fresh_pair, HOST1, skip=LIVE_DB)
    result = fresh_pair.xcatha(HOST1, "activate", check=False)
    assert result.returncode == 1
    assert "host2 may still be the MN" in result.stderr and "says it is on" in result.stderr
    assert "Traceback" not in result.stderr
    assert_unchanged(before, node_state(fresh_pair, HOST1, skip=LIVE_DB), except_log=True)
    assert postmaster(fresh_pair, HOST2) == server
    assert all(fresh_pair.answers().values())  # the active MN is untouched


def test_dry_run_changes_no_file(fresh_pair):
    live = LIVE_DB
    for node, commands in ((HOST1, [["activate"], ["setup", "begin"], ["setup", "finish"],
                                    ["setup", "convert", "--new-ip", "192.168.77.31/24"]]),
                           (HOST2, [["deactivate"]])):
        before = node_state(fresh_pair, node, skip=live)
        for command in commands:
            result = fresh_pair.xcatha(node, *command, "--dry-run", check=False)
            assert result.returncode in (0, 1) and "Traceback" not in result.stderr, result.stderr
            assert "Would" in result.stdout or result.returncode == 1
        assert_unchanged(before, node_state(fresh_pair, node, skip=live))


def postmaster(manual, node):
    return manual.lab.node(node).exec(["systemctl", "show", "-p", "MainPID", "--value", "postgresql@15-main"]).stdout


def test_failover_scenario_2_active_host_hung(fresh_pair):
    # host2 is active and hangs for the network (its link cut) but is alive: PostgreSQL still runs
    # on the shared data.  A plain activate on host1 is refused and changes nothing; --fence-peer
    # powers host2 off through its BMC first, then host1 takes over.
    server = postmaster(fresh_pair, HOST2)
    assert server.strip() not in ("", "0")
    fresh_pair.lab.node(HOST2).exec(["ip", "link", "set", "eth0", "down"])
    wait_until(lambda: not fresh_pair.lab.client_exec(["ping", "-c1", "-W1", fresh_pair.cfg.vip]).returncode == 0)
    # host2's PostgreSQL keeps writing its WAL into the shared data: host1's own state is compared
    before = node_state(fresh_pair, HOST1, shared=False)
    refused = fresh_pair.xcatha(HOST1, "activate", check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "host2 may still be the MN" in refused.stderr and "--fence-peer" in refused.stderr
    assert_unchanged(before, node_state(fresh_pair, HOST1, shared=False), except_log=True)
    assert postmaster(fresh_pair, HOST2) == server  # host2's database was not touched either
    out = fresh_pair.xcatha(HOST1, "activate", "--fence-peer").stdout
    assert "host2 powered off through its fence device" in out
    assert all(fresh_pair.answers().values())
    # host2 boots as a standby: no service starts at boot, the boot cleanup removes its links
    fresh_pair.lab.boot(HOST2)
    wait_until(lambda: fresh_pair.lab.node(HOST2).exec(["systemctl", "is-system-running"]).stdout.strip()
               in ("running", "degraded"), timeout=120)
    standby_is_clean(fresh_pair, HOST2)
    assert all(fresh_pair.answers().values())


def test_setup_finish_and_boot_cleanup_are_refused_on_the_active_mn(fresh_pair):
    # host1 is the active MN now: its running PostgreSQL writes WAL whatever the command does
    # (make test at ffb9929: a WAL segment changed), so its server's pid is compared instead
    server = postmaster(fresh_pair, HOST1)
    before = node_state(fresh_pair, HOST1, skip=LIVE_DB)
    for command in (["setup", "finish"], ["boot-cleanup"]):
        result = fresh_pair.xcatha(HOST1, *command, check=False)
        assert result.returncode == 1 and "this host is the active MN" in result.stderr, result.stderr
    assert_unchanged(before, node_state(fresh_pair, HOST1, skip=LIVE_DB), except_log=True)
    assert postmaster(fresh_pair, HOST1) == server
    assert all(fresh_pair.answers().values())
