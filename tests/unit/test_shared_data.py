"""Which links to make, which layouts to refuse, and the link states — in a temporary tree."""
import os

import pytest

from xcatha import ocf, run, shared_data
from xcatha.ocf import ExitCode, OcfError

from .conftest import Call


@pytest.mark.parametrize("shared,dirs,suffix", [
    ("/HA-data", ["/install", "/install"], ".bak"),
    ("/HA-data", ["/"], ".bak"),
    ("/HA-data", ["/etc"], ".bak"),
    ("/HA-data", ["/var/lib"], ".bak"),
    ("/HA-data", ["/HA-data/install"], ".bak"),
    ("/HA-data", ["/HA-data"], ".bak"),
    ("/install/ha", ["/install"], ".bak"),
    ("/HA-data", ["/etc/xcat", "/etc/xcat/cert"], ".bak"),
    ("/", ["/install"], ".bak"),
    ("/HA-data", ["/install"], ""),
    ("/HA-data", ["/install"], "/x"),
])
def test_impossible_layouts_are_configuration_errors(shared, dirs, suffix):
    with pytest.raises(OcfError) as error:
        shared_data.check_layout(shared, dirs, suffix)
    assert error.value.code == ExitCode.ERR_CONFIGURED


def test_default_layout_is_accepted():
    for family in ("rhel", "sles", "debian"):
        dirs = shared_data.default_dirs("postgresql", family)
        shared_data.check_layout("/HA-data", dirs, ".xcatha-local")
        assert dirs[:4] == ["/install", "/etc/xcat", "/root/.xcat", "/tftpboot"]
    assert shared_data.default_dirs("sqlite", "rhel") == ["/install", "/etc/xcat", "/root/.xcat", "/tftpboot"]
    assert shared_data.default_dirs("mysql", "debian")[-2:] == ["/var/lib/mysql", "/etc/mysql"]
    assert shared_data.default_dirs("postgresql", "rhel")[-1] == "/var/lib/pgsql"


def test_link_states(tmp_path):
    shared = str(tmp_path / "HA")
    local = tmp_path / "local"
    local.mkdir()
    right, wrong, foreign, real = (str(local / name) for name in ("right", "wrong", "foreign", "real"))
    os.symlink(shared + right, right)
    os.symlink(shared + "/elsewhere", wrong)
    os.symlink("/srv/data", foreign)
    os.mkdir(real)
    assert shared_data.link_state(shared, right) == "linked"
    assert shared_data.link_state(shared, wrong) == "stale"
    assert shared_data.link_state(shared, foreign) == "absent"
    assert shared_data.link_state(shared, real) == "absent"
    # A prefix is not containment: /HA-data2 is not inside /HA-data.
    os.symlink(shared + "2" + right, str(local / "sibling"))
    assert shared_data.link_points_into(str(local / "sibling"), shared) is None


def test_status_all_none_some(tmp_path, monkeypatch):
    monkeypatch.setattr(shared_data, "STATE_DIR", str(tmp_path / "run"))
    shared = str(tmp_path / "HA")
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    assert shared_data.status(shared, [a, b], "r")[0] == ExitCode.NOT_RUNNING
    os.symlink(shared + a, a)
    # some links, not started here (a crash's leftovers): not running, so no "active on 2 nodes"
    assert shared_data.status(shared, [a, b], "r")[0] == ExitCode.NOT_RUNNING
    os.symlink(shared + b, b)
    # all links but not started here (after a reboot): not running either
    assert shared_data.status(shared, [a, b], "r")[0] == ExitCode.NOT_RUNNING
    os.makedirs(tmp_path / "run")
    (tmp_path / "run" / "xcatha-shared-data-r.active").write_text(shared)
    assert shared_data.status(shared, [a, b], "r")[0] == ExitCode.SUCCESS
    os.unlink(b)
    os.symlink(shared + "/elsewhere", b)
    # started here and partly wrong: a failure
    assert shared_data.status(shared, [a, b], "r")[0] == ExitCode.ERR_GENERIC


def test_start_moves_aside_and_stop_restores(tmp_path, monkeypatch):
    monkeypatch.setattr(shared_data, "STATE_DIR", str(tmp_path / "run"))
    shared = tmp_path / "HA"
    work = tmp_path / "work"
    install, etc = work / "install", work / "etcxcat"
    for directory in (shared / str(install).lstrip("/"), shared / str(etc).lstrip("/"), etc):
        directory.mkdir(parents=True)
    (etc / "local-only").write_text("precious")
    dirs = [str(install), str(etc)]
    shared_data.start(str(shared), dirs, ".keep", False, "r")
    assert os.readlink(install) == str(shared) + str(install)
    assert (work / "etcxcat.keep" / "local-only").read_text() == "precious"
    shared_data.start(str(shared), dirs, ".keep", False, "r")  # idempotent
    shared_data.stop(str(shared), dirs, ".keep", "r")
    assert not install.exists() and (etc / "local-only").read_text() == "precious"
    assert not (work / "etcxcat.keep").exists()
    shared_data.stop(str(shared), dirs, ".keep", "r")  # idempotent


def test_start_refuses_when_backup_name_is_taken(tmp_path, monkeypatch):
    monkeypatch.setattr(shared_data, "STATE_DIR", str(tmp_path / "run"))
    shared = tmp_path / "HA"
    target = tmp_path / "etc"
    (shared / str(target).lstrip("/")).mkdir(parents=True)
    target.mkdir()
    (tmp_path / "etc.keep").mkdir()
    with pytest.raises(OcfError) as error:
        shared_data.start(str(shared), [str(target)], ".keep", False, "r")
    assert "move one of them away" in error.value.reason
    assert target.is_dir() and not target.is_symlink()  # nothing changed


def test_start_refuses_incomplete_shared_data(tmp_path, monkeypatch):
    monkeypatch.setattr(shared_data, "STATE_DIR", str(tmp_path / "run"))
    shared = tmp_path / "HA"
    shared.mkdir()
    with pytest.raises(OcfError) as error:
        shared_data.start(str(shared), [str(tmp_path / "install")], ".keep", False, "r")
    assert "lacks" in error.value.reason and not (tmp_path / "install").exists()


# ---------------------------------------------------------------- the depth-10 storage probe
def _probe(path):
    import socket
    return Call([run.python(), "-I", "-c", shared_data.PROBE_CODE,
                 os.path.join(path, ".xcatha-status-%s" % socket.gethostname()), str(os.getpid())])


def test_storage_probe_answers(runner, tmp_path):
    runner.expect(_probe(str(tmp_path)))
    shared_data.check_storage(str(tmp_path), ocf.Deadline(40))


def test_a_full_shared_filesystem_is_degraded_with_the_reason(runner, tmp_path):
    call = _probe(str(tmp_path))
    call.rc, call.stderr = shared_data.PROBE_FULL, "%s/.xcatha-status.tmp: No space left on device\n" % tmp_path
    runner.expect(call)
    with pytest.raises(OcfError) as error:
        shared_data.check_storage(str(tmp_path), ocf.Deadline(40))
    assert error.value.code == ExitCode.DEGRADED
    assert "is full" in error.value.reason and "No space left on device" in error.value.reason


def test_hung_storage_fails_the_probe_within_its_budget(runner, tmp_path):
    import subprocess
    call = _probe(str(tmp_path))
    call.raises = subprocess.TimeoutExpired("python3", 32)
    runner.expect(call)
    with pytest.raises(OcfError) as error:
        shared_data.check_storage(str(tmp_path), ocf.Deadline(40))
    assert error.value.code == ExitCode.ERR_GENERIC and "does not answer" in error.value.reason


def test_the_probe_itself_reports_enospc_as_full(tmp_path):
    """The child's own mapping, run for real: a write that fails with ENOSPC (a file system
    that is full) exits PROBE_FULL, another failure 1.  /dev/full answers every write ENOSPC."""
    import subprocess
    import sys
    (tmp_path / "probe.tmp").symlink_to("/dev/full")
    full = subprocess.run([sys.executable, "-I", "-c", shared_data.PROBE_CODE, str(tmp_path / "probe"), "1"],
                          capture_output=True, text=True, timeout=30)
    assert full.returncode == shared_data.PROBE_FULL and "No space left on device" in full.stderr
    gone = subprocess.run([sys.executable, "-I", "-c", shared_data.PROBE_CODE, str(tmp_path / "no" / "probe"), "1"],
                          capture_output=True, text=True, timeout=30)
    assert gone.returncode == 1 and "No such file or directory" in gone.stderr


def test_start_probes_the_storage_before_touching_it(runner, tmp_path, monkeypatch):
    """A start on hung storage fails from the bounded probe, before any access of its own."""
    import subprocess
    monkeypatch.setattr(shared_data, "check_shared_dir", lambda *args: pytest.fail("touched the storage first"))
    call = _probe(str(tmp_path))
    call.raises = subprocess.TimeoutExpired("python3", 24)
    runner.expect(call)
    with pytest.raises(OcfError) as error:
        shared_data.start(str(tmp_path), [str(tmp_path / "install")], ".keep", False, "r", deadline=ocf.Deadline(30))
    assert "does not answer" in error.value.reason
