"""A lab next to the default one (xha, used by the cluster tests and make demo), on a
frozen copy of the installed agents: the fault injector and the bench run in these.

The nodes boot from the host's root, where `make install` puts /opt/xcatha and
/usr/lib/ocf/resource.d/xcat.  A re-install during a long run would swap the
package under the running agents (seen: a stop failing with ImportError, then
fencing), so such a lab binds a copy taken, and checked, before it is built.
"""
import shutil
import subprocess
import time

from lab import pair, xcat
from lab.config import LabConfig
from lab.lab import Lab
from lab.util import log

INSTALLED = (("/opt/xcatha", "opt-xcatha"), ("/usr/lib/ocf/resource.d/xcat", "ocf-xcat"))
IMPORT_ALL = ("import importlib, pkgutil, xcatha\n"
              "for module in pkgutil.iter_modules(xcatha.__path__):\n"
              "    importlib.import_module('xcatha.' + module.name)\n")


def new_lab(prefix, net, workdir, **settings):
    """A Lab whose nodes see the copy in workdir/install instead of the host's installation."""
    cfg = LabConfig(prefix=prefix, net=net, workdir=workdir, **settings)
    cfg.binds = xcat.standin_binds() + [(str(_snapshot(cfg) / copy), path, True) for path, copy in INSTALLED]
    return Lab(cfg)


def _snapshot(cfg):
    return cfg.workdir / "install"


def build(lab):
    """From nothing to group xcatmn running, on a fresh copy of the installation."""
    lab.down()
    freeze_install(_snapshot(lab.cfg))
    pair.build(lab)


def reusable(lab, group_running=True):
    """True when this lab is up with both nodes online (and the group started, if asked)."""
    try:
        return (all(lab.node(name).running for name in lab.cfg.node_names)
                and sorted(pair.online(lab)) == sorted(lab.cfg.node_names)
                and (not group_running or bool(pair.active_node(lab))))
    except Exception:  # noqa: BLE001 - any doubt means: build it again
        return False


def freeze_install(snapshot, attempts=6):
    """Copy the installed package and agents; retried while a concurrent install leaves
    them incomplete.  Only while the lab is down: running nodes see the copy."""
    problem = None
    for attempt in range(1, attempts + 1):
        if snapshot.exists():
            shutil.rmtree(snapshot)
        snapshot.mkdir(parents=True)
        for path, copy in INSTALLED:
            subprocess.run(["cp", "-a", path, str(snapshot / copy)], check=True)
        problem = _problem(snapshot)
        if not problem:
            log.info("lab: agents copied from the host's installation into %s", snapshot)
            return
        log.warning("lab: copy of the installation unusable (attempt %d): %s", attempt, problem)
        time.sleep(10)
    raise RuntimeError("cannot copy a working installation of xcatha (run make install): %s" % problem)


def _problem(snapshot):
    python = snapshot / "opt-xcatha/bin/python3"
    if not python.exists():
        return "no %s" % python
    result = subprocess.run([str(python), "-I", "-c", IMPORT_ALL], capture_output=True, text=True)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        return lines[-1] if lines else "import failed"
    agents = {agent.name for agent in (snapshot / "ocf-xcat").iterdir()}
    if agents != set(pair.MEMBERS):
        return "agents: %s" % " ".join(sorted(agents))
    if not (snapshot / "opt-xcatha/bin/xcatha").exists():
        return "no bin/xcatha"
    return None
