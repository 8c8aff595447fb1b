"""Setup scenario 2: host1 already runs xCAT on the address that becomes the VIP."""
import hashlib
import time

import pytest
from lab import pair

HOST1, HOST2 = "host1", "host2"
# The site's own data under /install (xCAT's installer on the second host rightly rewrites
# /install/postscripts: keys and certificates of the shared CA).
DIGEST = "cd /install/netboot && find . -type f -print0 | sort -z | xargs -0 md5sum | md5sum"


@pytest.fixture(scope="module")
def running_mn(manual):
    manual.up()
    cfg = manual.cfg
    host1 = manual.lab.node(HOST1)
    host1.exec(["ip", "addr", "add", "%s/24" % cfg.vip, "dev", "eth0"], check=True)  # its address today
    host1.exec(["hostname", cfg.vip_name], check=True)  # and its name: xCAT's certificates and cfgloc use it
    manual.install_xcat(HOST1, extra=["--start"])
    host1.exec(["sh", "-c", "mkdir -p /install/netboot /tftpboot/xcat && for i in $(seq 1 12); do "
                "head -c 5M /dev/urandom > /install/netboot/image$i.img; done && echo pxe > /tftpboot/xcat/x"],
               check=True, timeout=120)
    assert host1.exec(["systemctl", "is-active", "xcatd"]).stdout.strip() == "active"
    return manual


def test_convert_interrupted_resumed_verified_then_pair_completed(running_mn):
    manual = running_mn
    host1 = manual.lab.node(HOST1)
    original = host1.exec(["sh", "-c", DIGEST]).stdout
    # interrupted once: Ctrl-C (SIGINT) in the middle of the copy, throttled so it is still copying
    interrupted = manual.x(HOST1, "timeout", "-s", "INT", "4", "xcatha", "setup", "convert",
                           "--new-ip", "%s/24" % manual.cfg.node_ip(HOST1), "--bwlimit", "10M", check=False)
    assert interrupted.returncode != 0
    assert host1.exec(["test", "-L", "/install"]).returncode != 0  # nothing moved aside yet
    partial = manual.cfg.shared_data / "install" / "netboot"
    assert partial.is_dir() and len(list(partial.iterdir())) < 12
    # resumed: the same command completes, verifies, links, and deactivates host1
    done = manual.xcatha(HOST1, "setup", "convert", "--new-ip", "%s/24" % manual.cfg.node_ip(HOST1))
    assert "/install: copied to /HA-data/install and verified" in done.stdout
    assert "set up and deactivated" in done.stdout
    assert manual.cfg.vip + "/" not in host1.exec(["ip", "-o", "addr"]).stdout  # the VIP left host1
    # deactivated: the links are gone and host1's own directories are back, intact
    assert host1.exec(["test", "-L", "/install"]).returncode != 0
    assert host1.exec(["sh", "-c", DIGEST]).stdout == original
    # host2 joins as standby, then host1 becomes the active MN again, with its data
    manual.xcatha(HOST2, "setup", "begin")
    manual.install_xcat(HOST2)
    manual.xcatha(HOST2, "setup", "finish")
    manual.xcatha(HOST1, "activate")
    assert host1.exec(["sh", "-c", DIGEST]).stdout == original
    assert all(manual.answers().values())
    manual.xcatha(HOST1, "deactivate")
    manual.xcatha(HOST2, "activate")
    assert manual.lab.node(HOST2).exec(["sh", "-c", DIGEST]).stdout == original
    assert all(manual.answers().values())


LIVE_DATABASE = "var/lib/postgresql/15/main/"  # the running MN's server writes there (WAL, statistics)


def shared_digest(manual):
    """Every file of the shared data with its checksum, every link with its target; of the
    live database only its lock file (the server that owns it), since its server keeps writing."""
    found = {}
    for path in sorted(manual.cfg.shared_data.rglob("*")):
        relative = str(path.relative_to(manual.cfg.shared_data))
        if relative.startswith(LIVE_DATABASE) and relative != LIVE_DATABASE + "postmaster.pid":
            continue
        if path.is_symlink():
            found[relative] = "-> " + str(path.readlink())
        elif path.is_file():
            found[relative] = hashlib.md5(path.read_bytes()).hexdigest()
    return found


def test_convert_rerun_after_a_failover_is_refused_and_the_shared_data_untouched(running_mn):
    # after the test above host2 is the MN, writing to the shared data; host1 still has its old
    # directories (moved back at deactivation).  Converting again would overwrite the MN's data.
    manual = running_mn
    before = shared_digest(manual)
    result = manual.xcatha(HOST1, "setup", "convert", "--new-ip", "%s/24" % manual.cfg.node_ip(HOST1),
                           check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "converted already" in result.stderr
    assert shared_digest(manual) == before
    assert all(manual.answers().values())


def test_converted_pair_runs_under_pacemaker_with_fencing(running_mn):
    """Scenario 2 carried on: the converted pair made a cluster (pcs, fence_ipmilan, `xcatha
    cluster-config apply`); the group runs, moves, and the MN's real job is done through the VIP."""
    manual = running_mn
    lab = manual.lab
    active = next(name for name in lab.cfg.node_names if pair.vip_on(lab, name))
    manual.xcatha(active, "deactivate")
    lab.start_bmcs()
    lab.setup_cluster(lab.cfg.node_names)
    manual.xcatha(HOST1, "cluster-config", "apply")
    started = time.monotonic()
    where = pair.wait_group_started(lab, timeout=240)
    answers = pair.first_answers(lab, started, timeout=60)  # the last members may still be starting
    assert all(seconds is not None for seconds in answers.values()), answers
    answers, result = pair.planned_move(lab, pair.other(lab, where))
    assert result.returncode == 0, result.stderr
    assert all(answers.values()), answers
