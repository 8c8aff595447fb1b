"""The xcatha CLI's own behaviour: one-line errors, exit codes, dry runs that print a plan."""
from click.testing import CliRunner

from xcatha import cli


def invoke(*args):
    return CliRunner().invoke(cli.main, list(args))


def test_missing_config_is_one_line_and_exit_1(tmp_path):
    result = invoke("activate", "-c", str(tmp_path / "none.conf"))
    assert result.exit_code == 1
    assert result.output.strip().startswith("xcatha: error: cannot read")
    assert "Traceback" not in result.output


def test_export_prints_a_pcs_script(example_config):
    result = invoke("cluster-config", "export", "-c", example_config)
    assert result.exit_code == 0
    assert result.output.startswith("#!/bin/sh") and "pcs -f" in result.output


def test_dry_run_prints_the_plan_in_group_order(example_config):
    result = invoke("activate", "--dry-run", "-c", example_config)
    assert result.exit_code == 0, result.output
    order = [line.split()[2] for line in result.output.splitlines() if line.strip()[:2].rstrip(".").isdigit()]
    assert order == ["vip", "shared-data", "db", "xcatd", "named", "dhcpd", "conserver", "http"]
    result = invoke("deactivate", "--dry-run", "-c", example_config)
    assert result.exit_code == 0 and "stop conserver" in result.output


def test_seed_names():
    assert cli.activate_main.__doc__.startswith("activate-xcatmn")
    assert cli.deactivate_main.__doc__.startswith("deactivate-xcatmn")


def test_dry_run_writes_no_log(tmp_path, monkeypatch, example_config):
    logfile = tmp_path / "xcatha.log"
    monkeypatch.setattr(cli, "LOG_FILE", str(logfile))
    assert invoke("activate", "--dry-run", "-c", example_config).exit_code == 0
    assert not logfile.exists()
    invoke("cluster-config", "export", "-c", example_config)
    assert logfile.exists()


def test_a_command_timeout_is_one_line_and_exit_1(runner, tmp_path):
    import subprocess

    from .conftest import Call, config_file
    runner.expect(Call(["ip", "-j", "addr", "show"], raises=subprocess.TimeoutExpired("ip", 10)))
    result = invoke("status", "-c", config_file(tmp_path))
    assert result.exit_code == 1
    assert result.output == "xcatha: error: ip did not finish within 10.0s\n"


def test_unreadable_crm_mon_output_is_one_line_and_exit_1(runner, tmp_path, monkeypatch):
    from xcatha import vip

    from .conftest import Call, ip_addr, pair_config
    monkeypatch.setattr(vip, "static_hostname", lambda: "host1")
    config = pair_config(tmp_path)
    runner.expect(ip_addr(), Call(["crm_mon", "--one-shot", "--output-as=xml"], stdout="<pacemaker-result"))
    result = invoke("status", "-c", config.path)
    assert result.exit_code == 1
    assert result.output.startswith("xcatha: error: crm_mon's XML cannot be read") and result.output.count("\n") == 1


def test_backup_on_the_passive_host_says_so_and_exits_0(runner, tmp_path, monkeypatch):
    from xcatha import vip

    from .conftest import Call, ip_addr, pair_config
    monkeypatch.setattr(vip, "static_hostname", lambda: "host1")
    monkeypatch.setattr(cli, "LOG_FILE", str(tmp_path / "xcatha.log"))
    config = pair_config(tmp_path)
    runner.expect(ip_addr(), Call(["crm_resource", "--locate", "--resource", "xcatmn"],
                                  stdout="resource xcatmn is running on: host2\n"))
    result = invoke("backup", "-c", config.path)
    assert (result.exit_code, result.output) == (0, "the group xcatmn runs on host2: no backup here\n")


def test_a_failed_backup_is_one_line_and_exit_1(runner, tmp_path, monkeypatch):
    from xcatha import vip, xcat

    from .conftest import Call, ip_addr, pair_config
    monkeypatch.setattr(vip, "static_hostname", lambda: "host1")
    monkeypatch.setattr(xcat, "path_of", lambda name: None)
    monkeypatch.setattr(cli, "LOG_FILE", str(tmp_path / "xcatha.log"))
    config = pair_config(tmp_path)
    runner.expect(ip_addr(), Call(["crm_resource", "--locate", "--resource", "xcatmn"],
                                  stdout="resource xcatmn is running on: host1\n"))
    result = invoke("backup", "-c", config.path)
    assert (result.exit_code, result.output) == (
        1, "xcatha: error: dumpxCATdb not found under /opt/xcat: is xCAT installed here?\n")
