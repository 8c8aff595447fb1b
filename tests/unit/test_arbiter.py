"""The arbiter ([quorum] arbiter): corosync-qdevice through pcs, set before the CIB loses its fence
delays and removed only after they are back; the heuristic; the config checks.  Runner injected;
corosync-cmapctl's and ip's outputs recorded from the lab with the arbiter set."""
import pytest

from xcatha import arbiter, cluster_config
from xcatha.cluster_config import ConfigError

from .conftest import EXAMPLE_CONFIG, LAB_NET, Call, config_file, fixture, pair_config

ARBITER = "[quorum]\narbiter = %s.3\n\n[node host1]" % LAB_NET
NO_DELAY = ("fence_delay = 3s\n", "")


def with_arbiter(tmp_path, *more):
    return pair_config(tmp_path, **dict([("[node host1]", ARBITER), NO_DELAY, *more]))


def cmap(name="corosync-cmapctl-quorum-device.txt"):
    return Call(["corosync-cmapctl", "-b", "quorum"], stdout=fixture(name) if name else "")


NO_DEVICE = Call(["corosync-cmapctl", "-b", "quorum"], stdout=fixture("corosync-cmapctl-quorum-two-node.txt"))


@pytest.mark.parametrize("edit,message", [
    (("[node host1]", "[quorum]\narbiter = 192.168.77.3\n\n[node host1]"), "fence_delay with [quorum] arbiter"),
    (("[node host1]", "[quorum]\narbiter = q\narbiter_port = x\n\n[node host1]", NO_DELAY),
     "arbiter_port=x is not an integer"),
])
def test_bad_arbiter_settings_are_refused(tmp_path, edit, message):
    text = EXAMPLE_CONFIG.read_text()
    for old, new in (edit[:2], *edit[2:]):
        assert old in text
        text = text.replace(old, new, 1)
    with pytest.raises(ConfigError) as error:
        cluster_config.load(config_file(tmp_path, text))
    assert message in str(error.value)


def test_an_arbiter_means_no_fence_delay_at_all(tmp_path):
    commands = cluster_config.pcs_commands(with_arbiter(tmp_path))
    assert not any(arg.startswith("pcmk_delay") for command in commands for arg in command)


def test_the_device_is_added_with_ffsplit_and_the_vip_heuristic(tmp_path, monkeypatch):
    monkeypatch.setattr(arbiter, "xcatha_path", lambda: "/usr/sbin/xcatha")
    config = with_arbiter(tmp_path)
    commands, removes = arbiter.plan(config, None)
    assert not removes
    assert commands == [["quorum", "device", "add", "model", "net", "host=%s.3" % LAB_NET, "algorithm=ffsplit",
                         "heuristics", "mode=sync",
                         "exec_xcatha=/usr/sbin/xcatha cluster-config holds-vip -c %s" % config.path]]


def test_the_running_device_is_read_from_corosync(runner, tmp_path):
    runner.expect(cmap())
    device = arbiter.current()
    assert device["model"] == "net" and device["net.algorithm"] == "ffsplit"
    assert device["heuristics.exec_xcatha"].endswith("cluster-config holds-vip -c /etc/xcatha/cluster.conf")
    runner.expect(NO_DEVICE)
    assert arbiter.current() is None


def lab_device(runner):
    runner.expect(cmap())
    return arbiter.current()


def test_a_device_as_wanted_needs_nothing_and_changes_are_updates_or_a_forced_re_add(runner, tmp_path, monkeypatch):
    device = lab_device(runner)
    monkeypatch.setattr(arbiter, "xcatha_path", lambda: device["heuristics.exec_xcatha"].split()[0])
    config = with_arbiter(tmp_path)
    config.path = "/etc/xcatha/cluster.conf"   # where the lab's nodes keep it
    assert arbiter.plan(config, device) == ([], False)
    config.path = "/etc/xcatha/other.conf"
    commands, removes = arbiter.plan(config, device)
    assert not removes and commands == [["quorum", "device", "update", "heuristics", "mode=sync",
                                         "exec_xcatha=%s cluster-config holds-vip -c /etc/xcatha/other.conf"
                                         % arbiter.xcatha_path()]]
    config.values["quorum"]["arbiter"] = "10.0.0.9"
    commands, removes = arbiter.plan(config, device)
    assert removes and commands[0] == ["quorum", "device", "remove"] and commands[1][:6] == \
        ["quorum", "device", "add", "model", "net", "host=10.0.0.9"]
    del config.values["quorum"]
    assert arbiter.plan(config, device) == ([["quorum", "device", "remove"]], True)
    assert arbiter.plan(config, None) == ([], False)


def apply_calls(config, workdir, patch):
    new = str(workdir / "new.xml")
    return [Call(["cibadmin", "--query"], stdout=fixture("cib.xml")),
            *[Call(["pcs", "-f", new, *command]) for command in cluster_config.pcs_commands(config, False)],
            Call(["crm_diff", "--no-version", "--original", str(workdir / "live.xml"), "--new", new], rc=1,
                 stdout=patch)]


DELAY_REMOVED = ('<diff format="2"><change operation="delete" path="/cib/configuration/resources/primitive'
                 '[@id=\'fence-host2\']/instance_attributes/nvpair[@id=\'fence-host2-instance_attributes-'
                 'pcmk_delay_base\']" position="7"/></diff>')
DELAY_ADDED = ('<diff format="2"><change operation="create" path="/cib/configuration/resources/primitive'
               '[@id=\'fence-host2\']/instance_attributes" position="7"><nvpair id="fence-host2-instance_attributes-'
               'pcmk_delay_base" name="pcmk_delay_base" value="3s"/></change></diff>')


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    directory = tmp_path / "cib"
    monkeypatch.setattr(cluster_config.tempfile, "mkdtemp", lambda prefix: (directory.mkdir(), str(directory))[1])
    return directory


def test_apply_adds_the_device_before_the_fence_delay_goes(runner, tmp_path, workdir, monkeypatch):
    monkeypatch.setattr(arbiter, "xcatha_path", lambda: "/usr/sbin/xcatha")
    config = with_arbiter(tmp_path)
    add = arbiter.plan(config, None)[0][0]
    runner.expect(NO_DEVICE, *apply_calls(config, workdir, DELAY_REMOVED), Call(["pcs", *add]),
                  Call(["cibadmin", "--patch", "--xml-file", str(workdir / "patch.xml")]),
                  Call(["crm_verify", "--live-check"]))
    said = []
    assert cluster_config.apply(config, out=said.append, force=True)
    assert "Ran: pcs " + " ".join(add) in said


def test_apply_without_force_adds_no_device_when_the_cib_change_is_refused(runner, tmp_path, workdir):
    config = with_arbiter(tmp_path)
    runner.expect(NO_DEVICE, *apply_calls(config, workdir, DELAY_REMOVED))
    with pytest.raises(ConfigError):
        cluster_config.apply(config, out=[].append)
    # neither pcs quorum device add nor cibadmin --patch ran


def test_apply_removes_the_device_only_with_force_and_after_the_delay_is_back(runner, tmp_path, workdir):
    config = pair_config(tmp_path)
    runner.expect(cmap())
    said = []
    with pytest.raises(ConfigError) as error:
        cluster_config.apply(config, out=said.append)
    assert "would run: pcs quorum device remove" in said and "--force" in str(error.value)
    runner.expect(cmap(), *apply_calls(config, workdir, DELAY_ADDED),
                  Call(["cibadmin", "--patch", "--xml-file", str(workdir / "patch.xml")]),
                  Call(["crm_verify", "--live-check"]), Call(["pcs", "quorum", "device", "remove"]))
    assert cluster_config.apply(config, out=said.append, force=True)


def test_a_failed_device_add_says_what_the_arbiter_needs_and_leaves_the_cib(runner, tmp_path, workdir):
    config = with_arbiter(tmp_path)
    add = arbiter.plan(config, None)[0][0]
    runner.expect(NO_DEVICE, *apply_calls(config, workdir, DELAY_REMOVED),
                  Call(["pcs", *add], rc=1, stderr="Error: Host '%s.3' is not known to pcs\n" % LAB_NET))
    with pytest.raises(arbiter.ArbiterError) as error:
        cluster_config.apply(config, out=[].append, force=True)
    assert "not known to pcs" in str(error.value) and "pcs host auth" in str(error.value)


def test_dry_run_shows_the_device_and_changes_nothing(runner, tmp_path, workdir):
    config = with_arbiter(tmp_path)
    runner.expect(NO_DEVICE, *apply_calls(config, workdir, DELAY_REMOVED))
    said = []
    assert not cluster_config.apply(config, dry_run=True, out=said.append)
    assert any(line.startswith("would run: pcs quorum device add model net") for line in said)


def test_export_adds_the_device_before_the_push(tmp_path):
    lines = cluster_config.export_script(with_arbiter(tmp_path)).splitlines()
    add = next(i for i, line in enumerate(lines) if line.startswith("pcs quorum device add"))
    assert add < next(i for i, line in enumerate(lines) if line.startswith("pcs cluster cib-push"))


def test_the_heuristic_passes_only_where_the_vip_is(runner, tmp_path):
    config = with_arbiter(tmp_path)
    runner.expect(Call(["ip", "-j", "addr", "show"], stdout=fixture("ip-j-addr-active.json")))
    assert arbiter.holds_vip(config)
    runner.expect(Call(["ip", "-j", "addr", "show"], stdout=fixture("ip-j-addr-host2.json")))
    assert not arbiter.holds_vip(config)
