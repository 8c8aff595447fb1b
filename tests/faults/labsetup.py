"""The fault lab: its own prefix, network and work dir, so that it runs next to the
default lab (xha) of the cluster tests and make demo.

The nodes boot from the host's root, where the agents are installed
(/opt/xcatha, /usr/lib/ocf/resource.d/xcat).  A `make install` on the host while
faults run would swap the package under the running agents (seen: a stop failing
with ImportError, then fencing), so the lab binds a copy taken before it is built.
"""
import shutil
import subprocess
import time
from pathlib import Path

from lab import Lab, LabConfig, pair, xcat
from lab.util import log

WORKDIR = Path("/var/lib/xcatha-lab-faults")
SNAPSHOT = WORKDIR / "install"
INSTALLED = (("/opt/xcatha", "opt-xcatha"), ("/usr/lib/ocf/resource.d/xcat", "ocf-xcat"))
IMPORT_ALL = ("import importlib, pkgutil, xcatha\n"
              "for module in pkgutil.iter_modules(xcatha.__path__):\n"
              "    importlib.import_module('xcatha.' + module.name)\n")


def config():
    binds = xcat.standin_binds() + [(str(SNAPSHOT / copy), path, True) for path, copy in INSTALLED]
    return LabConfig(prefix="xhf", net="192.168.75", workdir=WORKDIR, binds=binds)


def new_lab():
    return Lab(config())


def snapshot_install(attempts=6):
    """Copy the installed package and agents into the work dir; retried while a
    concurrent install leaves them incomplete.  Only while the lab is down: the
    running nodes see the copy."""
    for attempt in range(1, attempts + 1):
        if SNAPSHOT.exists():
            shutil.rmtree(SNAPSHOT)
        SNAPSHOT.mkdir(parents=True)
        for path, copy in INSTALLED:
            subprocess.run(["cp", "-a", path, str(SNAPSHOT / copy)], check=True)
        problem = _snapshot_problem()
        if not problem:
            log.info("faults: agents copied from the host's installation into %s", SNAPSHOT)
            return
        log.warning("faults: copy of the installation unusable (attempt %d): %s", attempt, problem)
        time.sleep(10)
    raise RuntimeError("cannot copy a working installation of xcatha: %s" % problem)


def _snapshot_problem():
    python = SNAPSHOT / "opt-xcatha/bin/python3"
    result = subprocess.run([str(python), "-I", "-c", IMPORT_ALL], capture_output=True, text=True)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        return lines[-1] if lines else "import failed"
    agents = sorted((SNAPSHOT / "ocf-xcat").iterdir())
    if {a.name for a in agents} != set(pair.MEMBERS):
        return "agents: %s" % " ".join(a.name for a in agents)
    if not (SNAPSHOT / "opt-xcatha/bin/xcatha").exists():
        return "no bin/xcatha"
    return None


def build(lab):
    """From nothing to the group running, on a frozen copy of the agents."""
    lab.down()
    snapshot_install()
    pair.build(lab)


def reusable(lab):
    """True when this lab is up with both nodes online and the group started."""
    try:
        return (all(lab.node(n).running for n in lab.cfg.node_names)
                and sorted(pair.online(lab)) == sorted(lab.cfg.node_names) and bool(pair.active_node(lab)))
    except Exception:  # noqa: BLE001 - any doubt means: build it again
        return False
