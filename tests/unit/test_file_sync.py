"""The files that follow the active MN: the /etc/hosts merge, push and pull through the shared
data, and the commands that run them (runner scripted: they run no program but the stop's child)."""
import json
import os

import pytest

from xcatha import cluster_config, file_sync, pair_setup, run, shared_data
from xcatha.ocf import STATE_DIR

from .conftest import Call, fixture, pair_config

KEYS = ("id_ed25519", "id_ed25519.pub")


@pytest.fixture
def hosts(tmp_path):
    """Two hosts' roots (host1 the MN, host2 the standby) and the shared data."""
    roots = {}
    for name in ("host1", "host2"):
        root = tmp_path / name
        (root / "etc").mkdir(parents=True)
        (root / "root/.ssh").mkdir(parents=True, mode=0o700)
        (root / "etc/hosts").write_text(fixture("hosts-%s.txt" % name))
        (root / "root/.ssh/authorized_keys").write_text("ssh-ed25519 AAAA %s-admins\n" % name)
        for key in KEYS:
            (root / "root/.ssh" / key).write_text("%s key of %s\n" % (key, name))
        (root / "root/.ssh/id_ed25519").chmod(0o600)
        roots[name] = str(root)
    shared = tmp_path / "HA-data"
    shared.mkdir()
    return roots, str(shared), str(tmp_path / "lock")


def test_merge_keeps_each_hosts_own_lines_and_follows_the_mn_for_the_rest():
    merged = file_sync.merge_hosts(fixture("hosts-host1.txt"), fixture("hosts-host2.txt"), ("host2",))
    assert merged == fixture("hosts-host2-merged.txt")
    # merging again changes nothing
    assert file_sync.merge_hosts(fixture("hosts-host1.txt"), merged, ("host2",)) == merged


def test_merge_of_an_el_host_keeps_its_localhost_lines_and_its_own_address_line():
    el = "127.0.0.1   localhost localhost.localdomain localhost4\n::1 localhost6\n" \
         "192.168.73.12 host2.cluster.lab host2\n"
    synced = "127.0.0.1 localhost\n127.0.1.1 host1.cluster.lab host1\n192.168.73.11 host1\n192.168.73.50 cn1\n"
    assert file_sync.merge_hosts(synced, el, ("host2.cluster.lab",)) == (
        "127.0.0.1   localhost localhost.localdomain localhost4\n::1 localhost6\n"
        "192.168.73.12 host2.cluster.lab host2\n192.168.73.11 host1\n192.168.73.50 cn1\n")


def test_push_then_pull_installs_on_the_new_mn_and_keeps_the_previous_copies(hosts):
    roots, shared, lock = hosts
    copied, gone = file_sync.push(shared, file_sync.DEFAULT_FILES, "host1", root=roots["host1"], lock=lock)
    assert copied == ["/etc/hosts", "/root/.ssh/id_ed25519", "/root/.ssh/id_ed25519.pub"] and gone == []
    assert os.stat(file_sync.store_dir(shared)).st_mode & 0o777 == 0o700
    manifest = file_sync.read_manifest(shared)
    assert manifest["host"] == "host1" and "/root/.ssh/authorized_keys" not in manifest["files"]
    # a second push copies nothing
    assert file_sync.push(shared, file_sync.DEFAULT_FILES, "host1", root=roots["host1"], lock=lock) == ([], [])

    assert file_sync.differences(shared, file_sync.DEFAULT_FILES, ("host2",), root=roots["host2"]) == [
        ("/etc/hosts", "differs from the copy host1 pushed"),
        ("/root/.ssh/id_ed25519", "differs from the copy host1 pushed"),
        ("/root/.ssh/id_ed25519.pub", "differs from the copy host1 pushed")]
    changed = file_sync.pull(shared, file_sync.DEFAULT_FILES, ("host2",), root=roots["host2"], lock=lock)
    assert changed == ["/etc/hosts", "/root/.ssh/id_ed25519", "/root/.ssh/id_ed25519.pub"]
    ssh = roots["host2"] + "/root/.ssh/"
    assert open(ssh + "id_ed25519").read() == "id_ed25519 key of host1\n"
    assert os.stat(ssh + "id_ed25519").st_mode & 0o777 == 0o600
    assert open(ssh + "id_ed25519" + file_sync.PREV_SUFFIX).read() == "id_ed25519 key of host2\n"
    assert open(ssh + "authorized_keys").read() == "ssh-ed25519 AAAA host2-admins\n"  # never follows
    assert open(roots["host2"] + "/etc/hosts").read() == fixture("hosts-host2-merged.txt")
    assert open(roots["host2"] + "/etc/hosts.xcatha-prev").read() == fixture("hosts-host2.txt")
    # installed: nothing differs, a second pull changes nothing, the backups are not pushed
    assert file_sync.differences(shared, file_sync.DEFAULT_FILES, ("host2",), root=roots["host2"]) == []
    assert file_sync.pull(shared, file_sync.DEFAULT_FILES, ("host2",), root=roots["host2"], lock=lock) == []
    assert file_sync.matching(file_sync.DEFAULT_FILES, roots["host2"]) == [
        "/etc/hosts", "/root/.ssh/id_ed25519", "/root/.ssh/id_ed25519.pub"]


def test_a_key_removed_on_the_mn_is_kept_aside_in_the_store_and_not_installed(hosts):
    roots, shared, lock = hosts
    file_sync.push(shared, file_sync.DEFAULT_FILES, "host1", root=roots["host1"], lock=lock)
    os.unlink(roots["host1"] + "/root/.ssh/id_ed25519.pub")
    assert file_sync.push(shared, file_sync.DEFAULT_FILES, "host1", root=roots["host1"], lock=lock) == (
        [], ["/root/.ssh/id_ed25519.pub"])
    assert os.path.exists(file_sync.stored(shared, "/root/.ssh/id_ed25519.pub") + file_sync.REMOVED_SUFFIX)
    file_sync.pull(shared, file_sync.DEFAULT_FILES, ("host2",), root=roots["host2"], lock=lock)
    assert open(roots["host2"] + "/root/.ssh/id_ed25519.pub").read() == "id_ed25519.pub key of host2\n"


def test_pull_without_a_store_or_with_a_torn_copy_changes_nothing(hosts):
    roots, shared, lock = hosts
    assert file_sync.pull(shared, file_sync.DEFAULT_FILES, ("host2",), root=roots["host2"], lock=lock) == []
    file_sync.push(shared, file_sync.DEFAULT_FILES, "host1", root=roots["host1"], lock=lock)
    with open(file_sync.stored(shared, "/root/.ssh/id_ed25519"), "a") as stream:
        stream.write("torn")
    changed = file_sync.pull(shared, ("/root/.ssh/id_*",), ("host2",), root=roots["host2"], lock=lock)
    assert changed == ["/root/.ssh/id_ed25519.pub"]
    assert open(roots["host2"] + "/root/.ssh/id_ed25519").read() == "id_ed25519 key of host2\n"


@pytest.mark.parametrize("text, error", [
    ("etc/hosts", "etc/hosts is not an absolute path"),
    ("/etc/hosts /root/.ssh/*", "/root/.ssh/* would copy authorized_keys"),
    ("/root/../etc/shadow", "is not an absolute path"),
])
def test_a_wrong_file_list_is_refused(text, error):
    with pytest.raises(file_sync.SyncError, match=error.replace("*", r"\*")):
        file_sync.parse_files(text)


def test_cluster_conf_sync_files_reach_the_agent(tmp_path):
    for name in "xyz":
        (tmp_path / name).mkdir()
    config = pair_config(tmp_path, **{"[timings]": "[sync]\nfiles = /etc/hosts /root/.ssh/id_* /etc/motd\n\n"
                                                   "[timings]"})
    assert cluster_config.resource_params(config)["shared-data"]["sync_files"] == \
        "/etc/hosts /root/.ssh/id_* /etc/motd"
    assert cluster_config.sync_files(config) == ("/etc/hosts", "/root/.ssh/id_*", "/etc/motd")
    assert "sync_files" not in cluster_config.resource_params(pair_config(tmp_path / "x"))["shared-data"]
    empty = pair_config(tmp_path / "y", **{"[timings]": "[sync]\nfiles =\n\n[timings]"})
    assert cluster_config.resource_params(empty)["shared-data"]["sync_files"] == "none"
    with pytest.raises(cluster_config.ConfigError, match="authorized_keys"):
        pair_config(tmp_path / "z", **{"[timings]": "[sync]\nfiles = /root/.ssh/authorized_keys\n\n[timings]"})


def test_the_path_units_push_waits_out_a_burst_and_copies_its_tail(hosts, monkeypatch):
    """systemd drops a change made while the push it started still runs (makehosts, then
    ssh-keygen's new pair a moment later): the run copies again until the files stay quiet."""
    roots, shared, lock = hosts
    ssh = roots["host1"] + "/root/.ssh/"
    burst = [lambda: open(ssh + "id_ed25519.pub", "w").write("new public key\n"),
             lambda: open(ssh + "id_rsa", "w").write("a second key pair\n")]
    naps = []

    def nap(seconds):
        naps.append(seconds)
        if burst:
            burst.pop(0)()
    monkeypatch.setattr(file_sync.time, "sleep", nap)
    copied, gone = file_sync.push(shared, file_sync.DEFAULT_FILES, "host1", root=roots["host1"], lock=lock,
                                  quiet=0.5)
    assert naps == [0.5, 0.5, 0.5]  # two rounds saw a change, the third a quiet half second
    assert copied == ["/etc/hosts", "/root/.ssh/id_ed25519", "/root/.ssh/id_ed25519.pub", "/root/.ssh/id_rsa"]
    assert gone == []
    assert open(file_sync.stored(shared, "/root/.ssh/id_ed25519.pub")).read() == "new public key\n"
    assert sorted(file_sync.read_manifest(shared)["files"]) == copied
    # the shared-data stop's push (quiet 0) does not wait: its files cannot change under it
    del naps[:]
    assert file_sync.push(shared, file_sync.DEFAULT_FILES, "host1", root=roots["host1"], lock=lock) == ([], [])
    assert naps == []


def test_sync_push_does_nothing_on_a_host_that_does_not_hold_the_group(runner, tmp_path, monkeypatch):
    config = pair_config(tmp_path)
    shared = config.get("shared", "dir")
    marker = tmp_path / "marker"
    monkeypatch.setattr(shared_data, "marker_path", lambda instance: str(marker))
    monkeypatch.setattr(shared_data, "own_name", lambda: "host1")
    shared_data.take_lease(shared)
    assert pair_setup.sync_push(config) is None  # the lease is ours, but not started here since boot
    marker.write_text(shared + "\n")
    monkeypatch.setattr(shared_data, "own_name", lambda: "host2")
    assert pair_setup.sync_push(config) is None  # started here, but host1 took the lease since
    assert not os.path.exists(file_sync.store_dir(shared))


def test_sync_push_on_the_mn_copies(runner, tmp_path, monkeypatch):
    config = pair_config(tmp_path)
    shared = config.get("shared", "dir")
    monkeypatch.setattr(shared_data, "own_name", lambda: "host1")
    marker = tmp_path / "marker"
    marker.write_text(shared + "\n")
    monkeypatch.setattr(shared_data, "marker_path", lambda instance: str(marker))
    shared_data.take_lease(shared)
    pushed = []
    monkeypatch.setattr(file_sync, "push",
                        lambda *args, **kwargs: pushed.append((args, kwargs)) or (["/etc/hosts"], []))
    assert pair_setup.sync_push(config) == ["/etc/hosts"]
    assert pushed == [((shared, file_sync.DEFAULT_FILES, "host1"), {"quiet": pair_setup.SYNC_QUIET})]


def test_stop_pushes_once_more_in_a_bounded_child_then_unlinks(runner, tmp_path, monkeypatch):
    monkeypatch.setattr(shared_data, "own_name", lambda: "host1")
    monkeypatch.setattr(run, "python", lambda: "/usr/bin/python3")
    shared = str(tmp_path / "HA-data")
    os.makedirs(shared)
    instance = "sync-test-%d" % os.getpid()
    os.makedirs(STATE_DIR, exist_ok=True)
    marker = shared_data.marker_path(instance)
    with open(marker, "w") as stream:
        stream.write(shared + "\n")
    runner.expect(
        Call(["/usr/bin/python3", "-I", "-m", "xcatha.file_sync", "push", shared, "host1", "/etc/hosts",
              "/root/.ssh/id_*"], rc=0),
        Call(["/usr/bin/python3", "-I", "-c", shared_data.RELEASE_CODE, os.path.join(shared, ".xcatha-active"),
              "host1"], rc=0))
    shared_data.stop(shared, [], ".xcatha-local", instance, file_sync.DEFAULT_FILES)
    assert not os.path.exists(marker)


def test_stop_on_storage_that_does_not_answer_still_stops(runner, tmp_path, monkeypatch):
    monkeypatch.setattr(shared_data, "own_name", lambda: "host1")
    monkeypatch.setattr(run, "python", lambda: "/usr/bin/python3")
    runner.expect(Call(["/usr/bin/python3", "-I", "-m", "xcatha.file_sync", "push", "/HA-data", "host1",
                        "/etc/hosts"], raises=run.CommandTimeout(["python3"], 10)))
    shared_data.push_synced("/HA-data", ("/etc/hosts",))


def test_start_installs_before_it_marks_and_gives_a_new_store_its_first_copy(tmp_path, monkeypatch):
    shared = str(tmp_path / "HA-data")
    os.makedirs(shared)
    order = []
    instance = "sync-start-%d" % os.getpid()
    monkeypatch.setattr(shared_data, "own_name", lambda: "host1")
    monkeypatch.setattr(file_sync, "pull", lambda *args: order.append(("pull", os.path.exists(
        shared_data.marker_path(instance)))) or [])
    monkeypatch.setattr(file_sync, "push", lambda *args: order.append(("push", os.path.exists(
        shared_data.marker_path(instance)))) or ([], []))
    try:
        shared_data.start(shared, [], ".xcatha-local", False, instance, ("/etc/hosts",))
        assert order == [("pull", False), ("push", True)]
        os.makedirs(file_sync.store_dir(shared))
        with open(os.path.join(file_sync.store_dir(shared), "manifest.json"), "w") as stream:
            json.dump({"host": "host2", "files": {}}, stream)
        order.clear()
        shared_data.start(shared, [], ".xcatha-local", False, instance, ("/etc/hosts",))
        assert order == [("pull", True)]  # a later start never pushes: the store is the truth
    finally:
        if os.path.exists(shared_data.marker_path(instance)):
            os.unlink(shared_data.marker_path(instance))


# ---------------------------------------------------------------- the commands
def invoke(*args):
    from click.testing import CliRunner

    from xcatha import cli
    return CliRunner().invoke(cli.main, list(args))


def test_cli_sync_push_on_the_mn_says_what_it_copied_and_elsewhere_nothing(runner, tmp_path, monkeypatch):
    from xcatha import cli
    monkeypatch.setattr(cli, "LOG_FILE", str(tmp_path / "log/xcatha.log"))
    config = pair_config(tmp_path)
    monkeypatch.setattr(pair_setup, "sync_push", lambda config: None)
    result = invoke("sync", "push", "-c", config.path)
    assert result.exit_code == 0 and result.output == ""
    monkeypatch.setattr(pair_setup, "sync_push", lambda config: ["/etc/hosts"])
    result = invoke("sync", "push", "-c", config.path)
    assert result.output == "/etc/hosts copied to %s/.xcatha-sync\n" % config.get("shared", "dir")


def test_cli_sync_facts_records_this_host(runner, tmp_path, monkeypatch):
    from xcatha import cli, parity
    monkeypatch.setattr(cli, "LOG_FILE", str(tmp_path / "log/xcatha.log"))
    config = pair_config(tmp_path)
    monkeypatch.setattr(parity, "gather", lambda engine: json.loads(fixture("facts-host1.json")))
    runner.expect(Call(["ip", "-j", "addr", "show"], stdout=fixture("ip-j-addr-host2.json")))
    result = invoke("sync", "facts", "-c", config.path)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("recorded: OS Debian GNU/Linux 12 (bookworm), xCAT Version 2.19.0 "
                                    "(xcat-core-7733d16f.tar.gz, staged by the xcatha lab), postgresql 15, clock ")
    written = json.loads(open(os.path.join(config.get("shared", "dir"), ".xcatha-hosts/host2.json")).read())
    assert written["host"] == "host2" and written["database"]["majors"] == ["15"]


def test_setup_units_enables_the_watch_and_writes_a_drop_in_for_other_files(runner, tmp_path, monkeypatch):
    from xcatha import units
    drop_in = tmp_path / "xcatha-sync.path.d/50-files.conf"
    monkeypatch.setattr(pair_setup, "SYNC_DROP_IN", str(drop_in))
    said = []
    runner.expect(Call(["systemctl", "enable", "--now", "xcatha-sync.path"]))
    pair_setup.install_sync_watch(pair_config(tmp_path), said.append)
    assert said == ["  xcatha-sync.path enabled: /etc/hosts /root/.ssh/id_* follow the active MN"]
    assert not drop_in.exists()
    (tmp_path / "other").mkdir()
    config = pair_config(tmp_path / "other", **{"[timings]": "[sync]\nfiles = /etc/hosts /root/.ssh/id_* "
                                                              "/etc/xcat-site/*.conf\n\n[timings]"})
    monkeypatch.setattr(units, "daemon_reload", lambda deadline=None: said.append("daemon-reload"))
    runner.expect(Call(["systemctl", "enable", "--now", "xcatha-sync.path"]))
    pair_setup.install_sync_watch(config, said.append)
    assert drop_in.read_text() == ("# Written by xcatha setup units from [sync] files.\n[Path]\nPathChanged=\n"
                                   "PathChanged=/etc/hosts\nPathChanged=/etc/xcat-site\nPathChanged=/root/.ssh\n")
    assert said[-2] == "daemon-reload"
    (tmp_path / "none").mkdir()
    empty = pair_config(tmp_path / "none", **{"[timings]": "[sync]\nfiles =\n\n[timings]"})
    runner.expect(Call(["systemctl", "disable", "--now", "xcatha-sync.path"]))
    pair_setup.install_sync_watch(empty, said.append)
    assert said[-1] == "  xcatha-sync.path disabled ([sync] files is empty)"


def shared_data_agent():
    import importlib.machinery
    import importlib.util
    path = os.path.join(os.path.dirname(__file__), "../../agents/shared-data")
    loader = importlib.machinery.SourceFileLoader("shared_data_agent", path)
    spec = importlib.util.spec_from_loader("shared_data_agent", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module.agent


@pytest.mark.parametrize("files, code", [
    ("/etc/hosts /root/.ssh/id_*", 0), ("none", 0), ("/root/.ssh/*", 6), ("etc/hosts", 6)])
def test_the_agent_refuses_a_file_list_that_would_copy_authorized_keys(tmp_path, monkeypatch, files, code, capsys):
    shared = tmp_path / "HA-data"
    shared.mkdir(mode=0o755)
    monkeypatch.setenv("OCF_RESKEY_shared_dir", str(shared))
    monkeypatch.setenv("OCF_RESKEY_require_mount", "false")
    monkeypatch.setenv("OCF_RESKEY_sync_files", files)
    monkeypatch.setenv("HA_LOGFILE", str(tmp_path / "log"))
    assert shared_data_agent().run(["validate-all"]) == code
    if code:
        assert "ocf-exit-reason:" in capsys.readouterr().err


def test_the_agents_default_is_the_list_itself(tmp_path, monkeypatch):
    agent = shared_data_agent()
    seen = []
    monkeypatch.setattr(shared_data, "start", lambda *args: seen.append(args[5]))
    monkeypatch.setattr(shared_data, "record_facts", lambda *args: None)
    monkeypatch.setenv("OCF_RESKEY_shared_dir", str(tmp_path))
    monkeypatch.setenv("HA_LOGFILE", str(tmp_path / "log"))
    monkeypatch.delenv("OCF_RESKEY_sync_files", raising=False)
    agent.run(["start"])
    monkeypatch.setenv("OCF_RESKEY_sync_files", "none")
    agent.run(["start"])
    assert seen == [file_sync.DEFAULT_FILES, ()]
