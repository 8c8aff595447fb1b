"""xcatha setup convert / finish / units and boot-cleanup, with the runner scripted."""
import json
import os
import subprocess

import pytest
from click.testing import CliRunner

from xcatha import activation, cli, cluster_config, pair_setup, shared_data, vip

from .conftest import NO_CLUSTER, Call, agent, config_file, fixture, ip_addr, pair_config

PG_UNIT = "postgresql@15-main.service"
SHOW = [PG_UNIT, "--property=LoadState,ActiveState,SubState,MainPID,ControlGroup,Job"]


def holding_the_vip():
    """host1's recorded `ip -j addr`, with the VIP added on eth0: the MN before its conversion."""
    links = json.loads(fixture("ip-j-addr-host1.json"))
    eth0 = next(link for link in links if link["ifname"] == "eth0")
    eth0["addr_info"].insert(1, dict(eth0["addr_info"][0], local="192.168.73.10"))
    return Call(["ip", "-j", "addr", "show"], stdout=json.dumps(links))


@pytest.fixture
def host1(tmp_path, monkeypatch):
    monkeypatch.setattr(vip, "static_hostname", lambda: "host1")
    monkeypatch.setattr(vip, "arp_probe", lambda *args, **kwargs: None)
    monkeypatch.setattr(pair_setup, "SETUP_MARKER", str(tmp_path / "setup-in-progress"))
    monkeypatch.setattr(shared_data, "STATE_DIR", str(tmp_path / "run"))
    return pair_config(tmp_path)


def tree(directory):
    found = {}
    for root, _dirs, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as stream:
                found[os.path.relpath(path, directory)] = stream.read()
    return found


def test_convert_after_a_failover_is_refused_and_changes_nothing(runner, host1):
    # host1 was converted and failed over: it holds its own address, host2 holds the VIP
    shared = host1.get("shared", "dir")
    with open(os.path.join(shared, "newer-than-host1"), "w") as stream:
        stream.write("written by the MN on host2\n")
    before = tree(shared)
    runner.expect(ip_addr("host1"))
    with pytest.raises(pair_setup.SetupError) as error:
        pair_setup.convert(host1, "192.168.73.11/24", lambda text, **kw: None)
    assert "it was converted already: make it the MN with xcatha activate" in str(error.value)
    assert tree(shared) == before


def test_convert_is_refused_while_the_shared_data_is_in_use(runner, host1):
    shared = host1.get("shared", "dir")
    with open(os.path.join(shared, shared_data.LEASE_NAME), "w") as stream:
        stream.write("host2\n")
    before = tree(shared)
    runner.expect(holding_the_vip(), NO_CLUSTER)
    with pytest.raises(pair_setup.SetupError) as error:
        pair_setup.convert(host1, "192.168.73.31/24", lambda text, **kw: None)
    assert "is in use (host2 holds the shared data's lease" in str(error.value)
    assert tree(shared) == before


def test_convert_refuses_to_copy_a_database_whose_server_did_not_stop(runner, host1, monkeypatch):
    monkeypatch.setattr(activation, "service_units", lambda config: [("postgresql", PG_UNIT, [PG_UNIT])])
    active = fixture("systemctl-show-postgresql-active.txt")
    runner.expect(Call(["systemctl", "show", *SHOW], stdout=active),
                  Call(["systemctl", "stop", PG_UNIT]),
                  Call(["systemctl", "show", *SHOW], stdout=active))
    with pytest.raises(pair_setup.SetupError) as error:
        pair_setup.stop_for_copy(host1, lambda text, **kw: None)
    assert str(error.value).startswith("postgresql@15-main.service did not stop")


def test_the_copy_keeps_hard_links_acls_and_xattrs(runner, tmp_path):
    runner.expect(Call(["rsync", "-aHAX", "--numeric-ids", "--partial", "--info=progress2", "--no-inc-recursive",
                        "/install/", str(tmp_path) + "/install/"], output=["  1,024 100%\r"]))
    pair_setup.copy_into_shared("/install", str(tmp_path / "install"), lambda text, **kw: None)


def test_a_verification_that_times_out_is_one_clear_error(runner, tmp_path):
    runner.expect(Call(["rsync", "-aHAX", "--numeric-ids", "--delete", "--dry-run", "--itemize-changes",
                        "/install/", str(tmp_path) + "/"], raises=subprocess.TimeoutExpired("rsync", 1)))
    with pytest.raises(pair_setup.SetupError) as error:
        pair_setup.differences("/install", str(tmp_path))
    assert "run the same command again to resume" in str(error.value)


def members_monitor(rc):
    return [agent(name, "monitor", rc=rc) for name in cluster_config.MEMBERS]


def test_finish_is_refused_on_the_active_mn(runner, host1):
    runner.expect(ip_addr(), NO_CLUSTER, *members_monitor(0))
    with pytest.raises(pair_setup.SetupError) as error:
        pair_setup.finish(host1, lambda text, **kw: None)
    assert "this host is the active MN" in str(error.value) and "xcatha setup units" in str(error.value)


def test_finish_is_refused_where_pacemaker_manages_the_group(runner, host1):
    runner.expect(ip_addr(), Call(["cibadmin", "--query", "--scope", "resources"], stdout=fixture("cib.xml")))
    with pytest.raises(pair_setup.SetupError) as error:
        pair_setup.finish(host1, lambda text, **kw: None)
    assert "behind its back" in str(error.value)


def test_boot_cleanup_is_refused_on_the_active_mn(runner, host1, tmp_path):
    os.makedirs(shared_data.STATE_DIR)
    with open(shared_data.marker_path("shared-data"), "w") as stream:
        stream.write(host1.get("shared", "dir") + "\n")
    result = CliRunner().invoke(cli.main, ["boot-cleanup", "-c", host1.path])
    assert result.exit_code == 1
    assert result.output.startswith("xcatha: error: this host is the active MN")


@pytest.mark.parametrize("new_ip", ["192.168.73.300/24", "host1", "192.168.77.10/24"])
def test_a_bad_new_ip_is_one_line_and_exit_1(tmp_path, new_ip):
    path = config_file(tmp_path)
    result = CliRunner().invoke(cli.main, ["setup", "convert", "--new-ip", new_ip, "-c", path])
    assert result.exit_code == 1
    assert result.output.startswith("xcatha: error: --new-ip") and len(result.output.splitlines()) == 1


def test_begin_on_the_second_host_starts_the_pairs_database_for_xcats_installer(runner, host1, monkeypatch):
    # host2 set xCAT up first: the shared data holds its cfgloc, so xcatconfig on this host needs
    # the database running, as on the MN
    monkeypatch.setattr(pair_setup, "seed_shared_data", lambda config, out: None)
    cfgloc = os.path.join(host1.get("shared", "dir"), "etc/xcat/cfgloc")
    os.makedirs(os.path.dirname(cfgloc))
    with open(cfgloc, "w") as stream:
        stream.write("Pg:dbname=xcatdb;host=192.168.73.10|xcatadm|pw0rd\n")
    runner.expect(ip_addr(), NO_CLUSTER, ip_addr(), ip_addr(), agent("vip", "start"), agent("shared-data", "start"),
                  agent("db", "start"))
    lines = []
    pair_setup.begin(host1, lambda text, **kw: lines.append(text))
    assert any("database" in line and "up here for the installer" in line for line in lines), lines


def test_begin_on_the_first_host_starts_no_database(runner, host1, monkeypatch):
    monkeypatch.setattr(pair_setup, "seed_shared_data", lambda config, out: None)
    runner.expect(ip_addr(), NO_CLUSTER, ip_addr(), ip_addr(), agent("vip", "start"), agent("shared-data", "start"))
    pair_setup.begin(host1, lambda text, **kw: None)


def test_finish_puts_back_the_link_xcats_installer_replaced(runner, host1, tmp_path, monkeypatch):
    """xcatconfig's setup-local-client.sh runs `rm -rf ~/.xcat` and makes a directory: the
    credentials land on this host's disk and the link is gone."""
    home = tmp_path / "root"
    local = home / ".xcat"
    local.mkdir(parents=True)
    (local / "client-cred.pem").write_text("credentials\n")
    shared = host1.get("shared", "dir")
    target = shared_data.target_of(shared, str(local))
    os.makedirs(target)
    monkeypatch.setattr(shared_data, "default_dirs", lambda engine, family=None: [str(local)])
    os.makedirs(os.path.dirname(shared_data.marker_path(pair_setup.SHARED_DATA_INSTANCE)))
    open(shared_data.marker_path(pair_setup.SHARED_DATA_INSTANCE), "w").close()  # begin linked here
    runner.expect(Call(pair_setup.RSYNC + ["--partial", "--info=progress2", "--no-inc-recursive",
                                           str(local) + "/", target + "/"]))
    lines = []
    pair_setup.restore_links(host1, lambda text="", **kw: lines.append(text))
    assert os.readlink(str(local)) == target
    aside = [entry for entry in os.listdir(home) if entry.startswith(".xcat.xcatha-installer-")]
    assert len(aside) == 1 and (home / aside[0] / "client-cred.pem").read_text() == "credentials\n"
    assert any("replaced the link" in line for line in lines)


def test_restoring_links_keeps_the_peers_shared_copy(runner, host1, tmp_path, monkeypatch):
    home = tmp_path / "root"
    local = home / ".xcat"
    local.mkdir(parents=True)
    (local / "client-cred.pem").write_text("this host's new credentials\n")
    target = shared_data.target_of(host1.get("shared", "dir"), str(local))
    os.makedirs(target)
    with open(os.path.join(target, "client-cred.pem"), "w") as stream:
        stream.write("the peer's\n")
    monkeypatch.setattr(shared_data, "default_dirs", lambda engine, family=None: [str(local)])
    os.makedirs(os.path.dirname(shared_data.marker_path(pair_setup.SHARED_DATA_INSTANCE)))
    open(shared_data.marker_path(pair_setup.SHARED_DATA_INSTANCE), "w").close()
    pair_setup.restore_links(host1, lambda text="", **kw: None)  # no copy: the runner expects nothing
    assert os.readlink(str(local)) == target
    with open(os.path.join(target, "client-cred.pem")) as stream:
        assert stream.read() == "the peer's\n"


# ---------------------------------------------------------------- the units of a pair member
# Debian 12 after xCAT's installer (../shared/lab-notes/xcat-real/evidence/per-command-services.txt):
# postgresql enabled, named enabled, xcatd disabled, conserver-server indirect; the cluster
# unit of PostgreSQL is its generator's (enabled-runtime, from the lab); apache2 enabled.
LAB_UNITS = [("postgresql", PG_UNIT, [PG_UNIT, "postgresql.service"]),
             ("xcatd", "xcatd.service", ["xcatd.service"]),
             ("named", "named.service", ["named.service"]),
             ("dhcpd", "isc-dhcp-server.service", ["isc-dhcp-server.service"]),
             ("conserver", "conserver-server.service", ["conserver-server.service"]),
             ("http", "apache2.service", ["apache2.service"])]
FRESH = {PG_UNIT: "enabled-runtime", "postgresql.service": "enabled", "xcatd.service": "disabled",
         "named.service": "enabled", "isc-dhcp-server.service": "disabled", "conserver-server.service": "indirect",
         "apache2.service": "enabled"}


def is_enabled(unit, state):
    return Call(["systemctl", "is-enabled", unit], stdout=state + "\n", rc=0 if state.startswith("enabled") else 1)


@pytest.fixture
def debian_host(tmp_path, monkeypatch):
    """The files install_units writes, recorded instead of written (path -> text); the Debian
    scripts whose presence it checks, present."""
    from xcatha import db, services, units
    written = {}

    def write_file(path, text):
        changed = written.get(path) != text
        written[path] = text
        return changed
    monkeypatch.setattr(units, "write_file", write_file)
    script = tmp_path / "present"
    script.write_text("#!/bin/sh\n")
    for module, name in ((services, "DHCPD_INIT_SCRIPT"), (db, "PG_CTLCLUSTER"), (db, "PG_DEBIAN_SERVER")):
        monkeypatch.setattr(module, name, str(script))
    monkeypatch.setattr(services, "DHCPD_SHIPPED_UNITS", ())
    monkeypatch.setattr(pair_setup, "SYNC_DROP_IN", str(tmp_path / "sync.conf"))
    monkeypatch.setattr(activation, "service_units", lambda config: LAB_UNITS)
    return written


def test_units_on_a_host_fresh_from_xcats_installer(runner, host1, debian_host):
    """`xcatha setup units` / `finish`: what starts at boot is disabled (no reload in between), every
    service gets the drop-in (no restart by systemd, deaths reported), PostgreSQL and dhcpd run
    without Debian's sleeps, one daemon-reload, then the boot cleanup, backup timer and sync watch."""
    calls = []
    for _service, _unit, boot in LAB_UNITS:
        calls += [is_enabled(unit, FRESH[unit]) for unit in boot]
        enabled = [unit for unit in boot if FRESH[unit] in ("enabled", "linked", "alias")]
        calls += [Call(["systemctl", "disable", "--no-reload", *enabled])] if enabled else []
    runner.expect(*calls, Call(["systemctl", "daemon-reload"]),
                  Call(["systemctl", "enable", pair_setup.BOOT_CLEANUP_UNIT]),
                  Call(["systemctl", "daemon-reload"]),   # the backup timer's drop-in
                  Call(["systemctl", "enable", "--now", "xcatha-backup.timer"]),
                  Call(["systemctl", "enable", "--now", pair_setup.SYNC_PATH_UNIT]))
    lines = []
    pair_setup.install_units(host1, lines.append)
    drop_ins = {path: text for path, text in debian_host.items() if path.endswith("/50-xcatha.conf")}
    assert sorted(drop_ins) == sorted("/etc/systemd/system/%s.d/50-xcatha.conf" % unit
                                      for unit in [u for _s, u, _b in LAB_UNITS] + ["xcatha-backup.timer"])
    for service, unit, _boot in LAB_UNITS:
        text = drop_ins["/etc/systemd/system/%s.d/50-xcatha.conf" % unit]
        assert "Restart=no" in text
        resource = {"postgresql": "db"}.get(service, service)
        assert "ExecStopPost=-+" in text and "-m xcatha.exited %s %%n" % resource in text
    assert "ExecStart=/usr/lib/postgresql/15/bin/postgres -D /etc/postgresql/15/main" in \
        debian_host["/etc/systemd/system/%s.d/40-xcatha-postmaster.conf" % PG_UNIT]
    assert "/etc/systemd/system/isc-dhcp-server.service" in debian_host
    assert "OnCalendar=" in debian_host["/etc/systemd/system/xcatha-backup.timer.d/50-xcatha.conf"]
    said = "\n".join(lines)
    assert "postgresql@15-main.service postgresql.service: disabled at boot" in said
    assert "xcatd.service: already disabled at boot" in said
    assert "conserver-server.service: already disabled at boot" in said   # indirect: nothing links it to boot


def test_units_a_second_time_change_nothing(runner, host1, debian_host):
    """Run again (the lab's states after the first run): nothing disabled, written or reloaded."""
    runner.expect(*[is_enabled(unit, "disabled") for _s, _u, boot in LAB_UNITS for unit in boot],
                  Call(["systemctl", "daemon-reload"]), Call(["systemctl", "enable", pair_setup.BOOT_CLEANUP_UNIT]),
                  Call(["systemctl", "daemon-reload"]), Call(["systemctl", "enable", "--now", "xcatha-backup.timer"]),
                  Call(["systemctl", "enable", "--now", pair_setup.SYNC_PATH_UNIT]))
    pair_setup.install_units(host1, lambda text: None)
    first = dict(debian_host)
    runner.expect(*[is_enabled(unit, "disabled") for _s, _u, boot in LAB_UNITS for unit in boot],
                  Call(["systemctl", "enable", pair_setup.BOOT_CLEANUP_UNIT]),
                  Call(["systemctl", "enable", "--now", "xcatha-backup.timer"]),
                  Call(["systemctl", "enable", "--now", pair_setup.SYNC_PATH_UNIT]))
    pair_setup.install_units(host1, lambda text: None)
    assert debian_host == first


def test_units_a_refused_enable_is_one_clear_error(runner, host1, debian_host):
    runner.expect(*[is_enabled(unit, "disabled") for _s, _u, boot in LAB_UNITS for unit in boot],
                  Call(["systemctl", "daemon-reload"]),
                  Call(["systemctl", "enable", pair_setup.BOOT_CLEANUP_UNIT], rc=1,
                       stderr="Failed to enable unit: Unit file xcatha-boot-cleanup.service does not exist.\n"))
    with pytest.raises(pair_setup.SetupError) as error:
        pair_setup.install_units(host1, lambda text: None)
    assert str(error.value) == ("systemctl enable xcatha-boot-cleanup.service failed: Failed to enable unit: Unit "
                                "file xcatha-boot-cleanup.service does not exist.")
