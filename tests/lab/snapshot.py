"""A built pair, kept: the real xCAT pair takes minutes to set up (xCAT's installers, the
cluster), so each lab keeps what the nodes' disks and the shared data held once it was
built, and the next build of the same pair boots that instead — in well under a minute.

The snapshot is taken with the cluster stopped and the nodes powered off cleanly, like
disks of machines that were shut down, and it is used only for exactly what made it: the
same xCAT source, the same lab settings, the same database engine and the same code of
the agents, the library, the cluster configuration and the lab (a fingerprint of them).
A node booted from it runs its cluster at boot, as the real pair does.
"""
import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path

from . import realxcat
from .node import state_dir
from .util import log

REPO = Path(__file__).resolve().parents[2]
# debian/ and packaging/ too: the nodes run the package built from all of these
INPUTS = ("lib", "agents", "cluster-config", "systemd", "share", "tests/lab", "debian", "packaging")


def directory(cfg, engine) -> Path:
    """One per engine (and storage): a lab that runs each engine in turn (make test) keeps all of them."""
    return cfg.workdir / "snapshot" / (engine + ("-" + cfg.shared_storage if cfg.shared_storage else ""))


def key(cfg, engine) -> str:
    """What the snapshot was made from: any change makes it unusable."""
    digest = hashlib.sha256()
    settings = json.loads(cfg.saved_path.read_text()) if cfg.saved_path.exists() else {}
    digest.update(json.dumps({k: v for k, v in settings.items() if k != "binds"}, sort_keys=True).encode())
    digest.update(engine.encode())
    stamp = realxcat.stage_dir(cfg) / ".xcatha-stage"
    digest.update(stamp.read_bytes() if stamp.exists() else b"")
    for top in INPUTS:
        for path in sorted((REPO / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(REPO)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def usable(cfg, wanted, engine) -> bool:
    stamp = directory(cfg, engine) / "KEY"
    return stamp.exists() and stamp.read_text() == wanted


def save(lab, wanted, engine, wait_started) -> None:
    """Stop the cluster, power the nodes off, keep their disks and the shared data, boot again."""
    started = time.monotonic()
    names = lab.cfg.node_names
    lab.node(names[0]).exec(["pcs", "cluster", "stop", "--all"], timeout=300, check=True)
    lab._in_parallel([lambda name=name: lab.poweroff(name) for name in names])
    target = directory(lab.cfg, engine)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in names:
        _copy(state_dir(lab.cfg) / name / "upper", target / name)
    _copy(lab.cfg.shared_data, target / "HA-data")
    (target / "KEY").write_text(wanted)
    log.info("snapshot: the built pair kept in %s (%.1f s)", target, time.monotonic() - started)
    lab._in_parallel([lambda name=name: lab.boot(name) for name in names])
    lab.wait_online(names, timeout=180)
    wait_started()


def restore(lab, engine) -> None:
    """A fresh lab whose nodes boot from the kept disks, with the kept shared data."""
    lab.up(nodes=lab.cfg.node_names, bmcs=True, restore=directory(lab.cfg, engine))


def populate(cfg, source: Path) -> None:
    """Called by Lab.up between mounting the nodes' storage and booting them."""
    for name in cfg.node_names:
        _copy(source / name, state_dir(cfg) / name / "upper")
    if cfg.shared_data.is_mount():   # the lab's storage (lab/storage.py), fresh and empty: fill it
        subprocess.run(["cp", "-a", "--", "%s/." % (source / "HA-data"), str(cfg.shared_data)], check=True)
        return
    if cfg.shared_data.exists():
        shutil.rmtree(cfg.shared_data)
    _copy(source / "HA-data", cfg.shared_data)


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # cp -a keeps owners, modes, links and the overlay's whiteouts (character devices)
    subprocess.run(["cp", "-a", "--", str(source), str(target)], check=True)
