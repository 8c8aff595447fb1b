"""The two layouts of the pair ([timings] layout): what pcs is told, and apply moving a
running pair from one to the other (runner injected, crm_diff's patches recorded)."""
import xml.etree.ElementTree as ET

import pytest

from xcatha import cluster_config

from .conftest import EXAMPLE_CONFIG, Call, config_file, fixture

TAIL = ["named", "dhcpd", "conserver", "http"]
META = ["resource-stickiness=100", "migration-threshold=5", "failure-timeout=10min"]


def load(tmp_path, layout=None):
    text = EXAMPLE_CONFIG.read_text()
    if layout is not None:
        text = text.replace("layout = parallel ", "layout = %s " % layout, 1)
    return cluster_config.load(config_file(tmp_path, text))


def resource_commands(config):
    return [command for command in cluster_config.pcs_commands(config) if command[0] in ("resource", "constraint")
            and command[:2] != ["constraint", "location"]]


def test_parallel_is_the_default_chain_in_the_group_services_beside_it(tmp_path):
    config = load(tmp_path)
    assert cluster_config.layout(config) == "parallel"
    commands = resource_commands(config)
    creates = {command[2]: command[-2:] == ["--group", "xcatmn"] for command in commands
               if command[:2] == ["resource", "create"]}
    assert creates == {"vip": True, "shared-data": True, "db": True, "xcatd": True,
                       "named": False, "dhcpd": False, "conserver": False, "http": False}
    # what a member inherits from the group, each service beside it is given at its create
    assert [command[-4:] for command in commands if command[:2] == ["resource", "create"]
            and command[2] in TAIL] == [["meta", *META]] * len(TAIL)
    assert commands[len(creates):] == [
        ["resource", "meta", "xcatmn", *META],
        ["constraint", "order", "set", "xcatmn", "set", *TAIL, "sequential=false", "setoptions",
         "id=xcatmn-then-services", "symmetrical=false"],
        ["constraint", "colocation", "set", *TAIL, "sequential=false", "set", "xcatmn", "setoptions",
         "score=INFINITY", "id=services-with-xcatmn"],
    ]


def test_layout_group_is_the_single_group_of_the_seed(tmp_path):
    config = load(tmp_path, "group")
    commands = resource_commands(config)
    assert [command[2] for command in commands if command[:2] == ["resource", "create"]] == \
        list(cluster_config.MEMBERS)
    assert all(command[-2:] == ["--group", "xcatmn"] for command in commands if command[1] == "create")
    assert commands[-1] == ["resource", "meta", "xcatmn", *META]
    assert not [command for command in commands if command[0] == "constraint"]


def test_an_unknown_layout_is_refused(tmp_path):
    with pytest.raises(cluster_config.ConfigError) as error:
        load(tmp_path, "clone")
    assert "[timings] layout=clone is not one of parallel, group" in str(error.value)


def test_the_parallel_layouts_constraints_are_xcathas_own(tmp_path):
    """purge drops them (apply rebuilds them) instead of keeping them as an admin's."""
    config = load(tmp_path)
    root = ET.fromstring(fixture("cib-layout-group.xml"))
    constraints = root.find("configuration/constraints")
    for identifier in (cluster_config.ORDER_ID, cluster_config.COLOCATION_ID):
        element = ET.SubElement(constraints, "rsc_order", id=identifier)
        ET.SubElement(ET.SubElement(element, "resource_set", id=identifier + "_set"), "resource_ref", id="xcatmn")
    assert cluster_config.purge(root, config) == []


@pytest.mark.parametrize("patch", ["crm_diff-group-to-parallel.xml", "crm_diff-parallel-to-group.xml"])
def test_a_layout_change_moves_primitives_and_removes_nothing(patch):
    text = fixture(patch)
    assert 'operation="delete"' in text
    assert cluster_config.removals(text) == []


def test_a_primitive_deleted_and_not_created_elsewhere_is_a_removal():
    text = fixture("crm_diff-group-to-parallel.xml")
    root = ET.fromstring(text)
    for change in [c for c in root.findall("change") if c.get("operation") == "create"]:
        if change.find("primitive[@id='named']") is not None:
            root.remove(change)
    assert cluster_config.removals(ET.tostring(root, encoding="unicode")) == [
        "/cib/configuration/resources/group[@id='xcatmn']/primitive[@id='named']"]


@pytest.mark.parametrize("layout,live,patch", [
    ("parallel", "cib-layout-group.xml", "crm_diff-group-to-parallel.xml"),
    ("group", "cib-layout-parallel.xml", "crm_diff-parallel-to-group.xml"),
])
def test_apply_moves_a_running_pair_to_the_other_layout_without_force(runner, tmp_path, monkeypatch, layout, live,
                                                                      patch):
    """The patch deletes primitives from one place and creates them in another (and, back to
    the group, drops the parallel layout's constraints): no --force, and in the lab no
    service restarted (their main pids and Pacemaker's start counts stayed the same)."""
    expect_apply(runner, tmp_path, monkeypatch, load(tmp_path, layout), fixture(live), fixture(patch))


def test_apply_makes_an_older_pairs_order_not_symmetrical_without_a_restart(runner, tmp_path, monkeypatch):
    """A pair set up before the order was made not symmetrical: the patch sets one attribute
    (crm_diff's, recorded in the lab, where no service's main pid changed by the apply)."""
    older = fixture("cib-layout-parallel.xml").replace(' symmetrical="false"', "")
    assert 'symmetrical' not in older
    patch = fixture("crm_diff-order-not-symmetrical.xml")
    assert cluster_config.removals(patch) == []
    expect_apply(runner, tmp_path, monkeypatch, load(tmp_path), older, patch)


def test_apply_makes_an_older_pairs_failed_starts_not_fatal_without_force(runner, tmp_path, monkeypatch):
    """A pair set up before start-failure-is-fatal=false: crm_diff's patch (on the build host,
    the older CIB being the render without that property) creates one property, deletes nothing."""
    older = "\n".join(line for line in fixture("cib-layout-parallel.xml").splitlines()
                      if "start-failure-is-fatal" not in line)
    patch = fixture("crm_diff-start-failure-not-fatal.xml")
    assert cluster_config.removals(patch) == []
    created = ET.fromstring(patch).find("change[@operation='create']/nvpair")
    assert (created.get("name"), created.get("value")) == ("start-failure-is-fatal", "false")
    assert ["property", "set", "stonith-enabled=true", "start-failure-is-fatal=false"] in \
        cluster_config.pcs_commands(load(tmp_path))
    expect_apply(runner, tmp_path, monkeypatch, load(tmp_path), older, patch)


def test_apply_takes_an_older_pairs_meta_order_without_force(runner, tmp_path, monkeypatch):
    """A pair rendered when each service beside the group got its meta attributes from a
    `pcs resource meta` after its create: crm_diff's patch (on the build host, from that render
    to this one) only moves elements, so apply needs no --force (in the lab no service's main
    pid changed)."""
    patch = fixture("crm_diff-meta-given-at-create.xml")
    assert cluster_config.removals(patch) == []
    assert {change.get("operation") for change in ET.fromstring(patch)} == {"move"}
    expect_apply(runner, tmp_path, monkeypatch, load(tmp_path), fixture("cib-layout-parallel-meta-after-create.xml"),
                 patch)


def expect_apply(runner, tmp_path, monkeypatch, config, live, patch):
    """apply without --force: the live CIB and crm_diff's patch as given, then the patch pushed."""
    workdir = tmp_path / "cib"
    monkeypatch.setattr(cluster_config.tempfile, "mkdtemp", lambda prefix: (workdir.mkdir(), str(workdir))[1])
    live_path, new, patch_path = (str(workdir / name) for name in ("live.xml", "new.xml", "patch.xml"))
    runner.expect(Call(["corosync-cmapctl", "-b", "quorum"], stdout=fixture("corosync-cmapctl-quorum-two-node.txt")),
                  Call(["cibadmin", "--query"], stdout=live),
                  *[Call(["pcs", "-f", new, *command]) for command in cluster_config.pcs_commands(config, False)],
                  Call(["crm_diff", "--no-version", "--original", live_path, "--new", new], rc=1, stdout=patch),
                  Call(["cibadmin", "--patch", "--xml-file", patch_path]),
                  Call(["crm_verify", "--live-check"]))
    said = []
    assert cluster_config.apply(config, out=said.append) is True
    assert said == ["Applied %s to the cluster." % config.path]
