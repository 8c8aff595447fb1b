"""The pair under Pacemaker: planned moves, a crash with fencing, a killed service, probes, rejoin."""
import time
import xml.etree.ElementTree as ET

from lab import pair
from lab.pair import MEMBERS


def pcs(lab, node, *args, timeout=180):
    return lab.node(node).exec(["pcs", *args], timeout=timeout)


def assert_all_services_answer(lab):
    answers = pair.services_answer(lab)
    assert all(answers.values()), answers


def test_configuration_is_valid_and_reapplying_changes_nothing(healthy):
    active = pair.active_node(healthy)
    node = healthy.node(active)
    assert node.exec(["crm_verify", "-L"]).returncode == 0
    again = node.exec(["xcatha", "cluster-config", "apply", "-c", pair.NODE_CONFIG], timeout=300)
    assert again.returncode == 0 and "nothing to change" in again.stdout
    dry = node.exec(["xcatha", "cluster-config", "apply", "--dry-run", "-c", pair.NODE_CONFIG], timeout=300)
    assert dry.returncode == 0 and "nothing to change" in dry.stdout
    properties = node.exec(["crm_attribute", "--type", "crm_config", "--name", "stonith-enabled", "--query"]).stdout
    assert "value=true" in properties
    assert_all_services_answer(healthy)


def test_force_check_answers_running_here_and_stopped_there(healthy):
    active = pair.active_node(healthy)
    passive = pair.other(healthy, active)
    for name in MEMBERS:
        here = healthy.node(active).exec(["crm_resource", "--force-check", "--resource", name], timeout=60)
        assert here.returncode == 0, (name, here.stdout, here.stderr)
        there = healthy.node(passive).exec(["crm_resource", "--force-check", "--resource", name], timeout=60)
        assert there.returncode == 7, (name, there.stdout, there.stderr)


def test_cli_defers_to_the_cluster(healthy):
    active = pair.active_node(healthy)
    node = healthy.node(active)
    for command in ("activate", "deactivate"):
        result = node.exec(["xcatha", command], timeout=120)
        assert result.returncode == 1 and "pcs resource move" in result.stderr, result.stderr
    status = node.exec(["xcatha", "status"], timeout=120)
    assert status.returncode == 0 and "(cluster view)" in status.stdout
    assert all(line.split()[1] == "started" for line in status.stdout.splitlines()[1:8]), status.stdout
    for name in healthy.cfg.node_names:  # setup finish recorded each host's versions; check compares them
        result = healthy.node(name).exec(["xcatha", "check"], timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
    assert "is the same on both hosts" in result.stdout and "two_node is set" in result.stdout


def test_planned_move_both_ways(healthy):
    for _ in range(2):
        active = pair.active_node(healthy)
        target = pair.other(healthy, active)
        announced = {name: len(pair.failover_lines(healthy, name)) for name in (active, target)}
        answers, result = pair.planned_move(healthy, target)
        assert result.returncode == 0, result.stderr
        assert all(answers.values()), answers
        assert pair.wait_group_started(healthy, on=target, timeout=60) == target
        # announced once, on the node it moved to, and shown by xcatha status
        line = pair.wait_failover_line(healthy, target, announced[target])
        assert "xcatmn moved from %s to %s" % (active, target) in line and "cause: planned move" in line, line
        assert len(pair.failover_lines(healthy, target)) == announced[target] + 1
        assert len(pair.failover_lines(healthy, active)) == announced[active]
        status = healthy.node(active).exec(["xcatha", "status"], timeout=120)
        assert "last failover:\n  " + line in status.stdout, status.stdout
        assert "cli-prefer" not in pcs(healthy, target, "constraint", "--full").stdout
        # the old node is clean: no VIP, no links
        old = healthy.node(active)
        assert healthy.cfg.vip + "/" not in old.exec(["ip", "-o", "addr"]).stdout
        assert old.exec(["test", "-L", "/install"]).returncode != 0


def test_killed_service_is_restarted_in_place(healthy):
    active = pair.active_node(healthy)
    node = healthy.node(active)
    pid = node.exec(["systemctl", "show", "-p", "MainPID", "--value", "named"]).stdout.strip()
    assert pid and pid != "0"
    node.exec(["kill", "-KILL", pid])
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        counts = pair.fail_counts(healthy, via=active)
        new_pid = node.exec(["systemctl", "show", "-p", "MainPID", "--value", "named"]).stdout.strip()
        if counts.get("named") and new_pid not in ("", "0", pid):
            break
        time.sleep(1)
    # reported by the unit's exit hook (crm_resource --fail: an "asyncmon" failure, which
    # Pacemaker 2.1 counts twice), not found by the next 30 s monitor
    assert "named_asyncmon_0" in failed_operations(healthy, active), failed_operations(healthy, active)
    journal = node.exec(["journalctl", "-u", "named.service", "--no-pager", "-o", "cat"], timeout=60).stdout
    assert "reported to Pacemaker as a failure of named on %s" % active in journal
    assert pair.wait_group_started(healthy, timeout=60) == active  # recovered in place, not moved
    # the new main pid may be the agent's start still under way (makedns -n): wait for DNS to answer
    assert wait_until(lambda: pair.probe_dns(healthy), 90)
    assert pair.active_node(healthy) == active


def wait_until(check, timeout, interval=1.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(interval)
    return check()


def failed_operations(lab, via):
    root = pair.crm_mon(lab, via)
    return [failure.get("op_key") for failure in root.iter("failure")] if root is not None else []


def test_xcats_own_restarts_are_no_failures(healthy):
    """makedns -n, makedhcp -n and makeconservercf restart their daemons themselves (systemctl
    restart): the exit hook sees the restart job and reports nothing."""
    active = pair.active_node(healthy)
    node = healthy.node(active)
    since = node.exec(["date", "+%Y-%m-%d %H:%M:%S"]).stdout.strip()
    for command in (["makedns", "-n"], ["makedhcp", "-n"], ["makeconservercf"]):
        result = node.exec(["/opt/xcat/sbin/" + command[0], *command[1:]], timeout=120)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
    journal = node.exec(["journalctl", "--since", since, "--no-pager", "-o", "cat", "-t", "python3"],
                        timeout=60).stdout
    # each restart's stop ran the hook to its end before `systemctl restart` returned
    assert journal.count("stopped on request") >= 3 and "reported to Pacemaker" not in journal, journal
    assert not pair.fail_counts(healthy, via=active), pair.fail_counts(healthy, via=active)
    assert pair.wait_group_started(healthy, timeout=60) == active
    assert pair.probe_dhcp(healthy) and pair.probe_dns(healthy)


def test_crash_of_the_active_node(healthy):
    active = pair.active_node(healthy)
    survivor = pair.other(healthy, active)
    assert pair.sql(healthy, "CREATE TABLE IF NOT EXISTS ha_crash (id INTEGER)").returncode == 0
    marker = str(int(time.time()))
    assert pair.sql(healthy, "INSERT INTO ha_crash VALUES (%s)" % marker).returncode == 0
    fences_before = len(pair.fence_history(healthy, survivor))
    announced = len(pair.failover_lines(healthy, survivor))
    crashed_at = time.monotonic()
    healthy.crash(active)
    assert pair.wait_group_started(healthy, on=survivor, via=survivor, timeout=120) == survivor
    answers = pair.first_answers(healthy, crashed_at, timeout=120)
    assert all(answers.values()), answers
    fences = pair.fence_history(healthy, survivor)
    assert len(fences) > fences_before
    newest = max(fences, key=lambda fence: fence["completed"] or "")   # the XML is not in time order
    assert newest["target"] == active and newest["status"] == "success", fences
    line = pair.wait_failover_line(healthy, survivor, announced)
    assert line.endswith("cause: fencing: %s fenced (reboot) by %s" % (active, survivor)), line
    assert marker in pair.sql(healthy, "SELECT id FROM ha_crash").stdout  # committed before the crash

    # The fenced node comes back (its virtual BMC powers it on): it rejoins, does not take
    # the group back, and shows neither the VIP nor links left from before the crash.
    end = time.monotonic() + 120
    while sorted(pair.online(healthy, via=survivor)) != sorted(healthy.cfg.node_names):
        assert time.monotonic() < end, "the fenced node did not rejoin"
        time.sleep(1)
    time.sleep(5)  # let the rejoined node's probes finish
    assert pair.active_node(healthy, via=survivor) == survivor
    returned = healthy.node(active)
    assert healthy.cfg.vip + "/" not in returned.exec(["ip", "-o", "addr"]).stdout
    for path in ("/install", "/etc/xcat", "/var/lib/postgresql"):
        assert returned.exec(["test", "-L", path]).returncode != 0, path
    log_text = healthy.node(survivor).exec(["grep", "-c", "active on 2 nodes",
                                            "/var/log/pacemaker/pacemaker.log"]).stdout.strip()
    assert log_text in ("", "0")
    assert_all_services_answer(healthy)


UNITS = ("postgresql@15-main", "xcatd", "named", "isc-dhcp-server", "conserver-server", "apache2")


def running_state(lab):
    """Per node: how many starts Pacemaker logged for each member, and each unit's main pid."""
    state = {}
    for name in lab.cfg.node_names:
        node = lab.node(name)
        log = node.exec(["cat", pair.PACEMAKER_LOG], timeout=30).stdout
        starts = {member: log.count("Result of start operation for %s on" % member) for member in MEMBERS}
        pids = {unit: node.exec(["systemctl", "show", "-p", "MainPID", "--value", unit]).stdout.strip()
                for unit in UNITS}
        state[name] = (starts, pids)
    return state


def test_apply_switches_the_layout_of_a_running_pair_without_restarts(healthy):
    active = pair.active_node(healthy)
    node = healthy.node(active)
    before = running_state(healthy)
    text = node.exec(["cat", pair.NODE_CONFIG]).stdout
    grouped = text.replace("layout = parallel ", "layout = group ", 1)
    assert grouped != text
    node.exec(["install", "-m", "0600", "/dev/stdin", "/root/cluster-group.conf"], input=grouped, check=True)
    for path, members in (("/root/cluster-group.conf", MEMBERS), (pair.NODE_CONFIG, MEMBERS[:4])):
        result = node.exec(["xcatha", "cluster-config", "apply", "-c", path], timeout=300)
        assert result.returncode == 0 and "Applied" in result.stdout, result.stdout + result.stderr
        assert node.exec(["crm_verify", "-L"]).returncode == 0
        group = ET.fromstring(node.exec(["cibadmin", "--query", "--xpath", "//group[@id='xcatmn']"]).stdout)
        assert tuple(primitive.get("id") for primitive in group.iter("primitive")) == members
        assert pair.wait_group_started(healthy, timeout=60) == active
        assert running_state(healthy) == before  # nothing stopped or started anywhere
    assert_all_services_answer(healthy)
