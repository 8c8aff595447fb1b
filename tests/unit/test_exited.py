"""The units' exit hook (xcatha.exited, the drop-in's ExecStopPost): an exit nobody asked for
is reported to Pacemaker at once; a stop or restart someone asked for (the agent's stop, xCAT's
makedns -n / makedhcp -n / makeconservercf restarts) is not.  Outputs as recorded in the lab
(systemd 252, Pacemaker 2.1.5) on the node running the MN."""
from xcatha import exited

from .conftest import Call

KILLED = {"SERVICE_RESULT": "signal", "EXIT_CODE": "killed", "EXIT_STATUS": "KILL"}
JOB = ["systemctl", "show", "isc-dhcp-server.service", "--property=Job", "--value"]
LOCATE = ["crm_resource", "--locate", "--resource", "dhcpd", "--quiet"]


def test_a_death_is_reported_as_a_failure_of_its_resource_on_this_node(runner):
    runner.expect(Call(JOB, stdout="\n"),
                  Call(["crm_node", "--name"], stdout="host2\n"),
                  Call(LOCATE, stdout="host2\n"),
                  Call(["crm_resource", "--fail", "--resource", "dhcpd", "--node", "host2"]))
    said = exited.report("dhcpd", "isc-dhcp-server.service", KILLED)
    assert said == ("isc-dhcp-server.service stopped unrequested (SERVICE_RESULT=signal, EXIT_CODE=killed, "
                    "EXIT_STATUS=KILL): reported to Pacemaker as a failure of dhcpd on host2")


def test_a_restart_by_xcat_or_a_stop_by_the_agent_is_a_job_and_not_reported(runner):
    """makedhcp -n runs `systemctl restart isc-dhcp-server`: the unit has its restart job while
    the hook runs (journal in the lab: "stopped on request (job 539)")."""
    runner.expect(Call(JOB, stdout="539\n"))
    said = exited.report("dhcpd", "isc-dhcp-server.service", {"SERVICE_RESULT": "success"})
    assert said == "isc-dhcp-server.service stopped on request (job 539)"


def test_a_failed_start_runs_the_hook_during_its_start_job_and_is_not_called_a_request(runner):
    """A start that fails runs ExecStopPost while the start job is pending (lab journal:
    "postgresql@15-main.service stopped on request (job 210)" after a failed start); the
    agent's start reports that failure, the hook only says what it was."""
    runner.expect(Call(JOB, stdout="210\n"))
    said = exited.report("dhcpd", "isc-dhcp-server.service", {"SERVICE_RESULT": "exit-code", "EXIT_CODE": "exited",
                                                               "EXIT_STATUS": "1"})
    assert said == ("isc-dhcp-server.service ended (SERVICE_RESULT=exit-code, EXIT_CODE=exited, EXIT_STATUS=1) "
                    "while job 210 ran: that job's failure, not reported here")


def test_a_death_where_pacemaker_does_not_run_the_resource_is_not_reported(runner):
    """xcatha activate without a cluster, the bench's stock group: a failure there would count
    against a node that runs nothing."""
    runner.expect(Call(JOB, stdout="\n"),
                  Call(["crm_node", "--name"], stdout="host1\n"),
                  Call(LOCATE, stdout="host2\n"))
    said = exited.report("dhcpd", "isc-dhcp-server.service", KILLED)
    assert said.endswith("but Pacemaker does not run dhcpd here: not reported")


def test_without_a_cluster_nothing_is_reported(runner):
    runner.expect(Call(JOB, stdout="\n"),
                  Call(["crm_node", "--name"], rc=102, stderr="crm_node: Could not connect to the cluster\n"))
    assert exited.report("dhcpd", "isc-dhcp-server.service", {}).endswith("not reported")


def test_when_systemd_cannot_say_nothing_is_reported(runner):
    runner.expect(Call(JOB, rc=1, stderr="Failed to connect to bus\n"))
    assert exited.report("dhcpd", "isc-dhcp-server.service", KILLED).endswith("on request: not reported")


def test_the_hook_never_fails_the_units_stop(runner):
    runner.expect(Call(JOB, stdout="\n"),
                  Call(["crm_node", "--name"], stdout="host2\n"),
                  Call(LOCATE, stdout="host2\n"),
                  Call(["crm_resource", "--fail", "--resource", "dhcpd", "--node", "host2"], rc=105,
                       stderr="crm_resource: Resource dhcpd not found\n"))
    assert exited.main(["dhcpd", "isc-dhcp-server.service"], KILLED) == 0
    assert exited.main(["dhcpd"], {}) == 2  # a broken drop-in says so
