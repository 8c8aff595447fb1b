"""Each lab installs the checkout it runs from, into its own work dir.

The nodes boot from the host's root, where `make install` of whichever checkout
ran last would otherwise decide what the agents are.  So every lab builds its
own copy before it boots (a virtual environment from /usr/bin/python3 with the
package and its dependencies, the agents with that interpreter in their #!
line) and binds it where the package goes: /opt/xcatha and
/usr/lib/ocf/resource.d/xcat.  A re-install on the host during a long run (the
fault run, the bench) then changes nothing under the running agents, and two
checkouts can run their labs side by side.
"""
import os
import shutil
import subprocess
from pathlib import Path

from .util import LabError, log

REPO = Path(__file__).resolve().parents[2]
PYTHON = "/usr/bin/python3"          # the interpreter the installed agents run with
COMMANDS = ("xcatha", "activate-xcatmn", "deactivate-xcatmn")
UNIT = "xcatha-boot-cleanup.service"
# Where the copy appears in a node: (subdirectory of the copy, path in the node).
PLACES = (("opt-xcatha", "/opt/xcatha"), ("ocf-xcat", "/usr/lib/ocf/resource.d/xcat"))
IMPORT_ALL = ("import importlib, pkgutil, xcatha\n"
              "for module in pkgutil.iter_modules(xcatha.__path__):\n"
              "    importlib.import_module('xcatha.' + module.name)\n")


def directory(cfg) -> Path:
    return cfg.workdir / "install"


def binds(cfg):
    """The bind mounts that put this lab's copy where the package lives."""
    return [(str(directory(cfg) / copy), path, True) for copy, path in PLACES]


def build(cfg, checkout: Path = REPO) -> None:
    """Install checkout into the lab's work dir (only while the lab is down: nodes see the copy)."""
    target = directory(cfg)
    if target.exists():
        shutil.rmtree(target)
    venv = target / "opt-xcatha"
    _run([PYTHON, "-m", "venv", str(venv)])
    # Not editable: the nodes must run what was checked out when the lab was built.
    _run([str(venv / "bin/python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
          "--no-warn-script-location", str(checkout)], timeout=600)
    # Scripts say where the venv was built; inside a node it is bound at /opt/xcatha.
    for script in (venv / "bin").iterdir():
        if script.is_file() and not script.is_symlink():
            text = script.read_bytes()
            if text.startswith(b"#!" + str(venv).encode()):
                script.write_bytes(b"#!/opt/xcatha" + text[2 + len(str(venv)):])
    agents = target / "ocf-xcat"
    agents.mkdir()
    for agent in sorted((checkout / "agents").iterdir()):
        lines = agent.read_text().splitlines(keepends=True)
        lines[0] = "#!/opt/xcatha/bin/python3 -I\n"
        (agents / agent.name).write_text("".join(lines))
        (agents / agent.name).chmod(0o755)
    shutil.copy(checkout / "systemd" / UNIT, target / UNIT)
    check = subprocess.run([str(venv / "bin/python3"), "-I", "-c", IMPORT_ALL], capture_output=True, text=True)
    if check.returncode != 0:
        raise LabError("the lab's copy of xcatha does not import: %s" % check.stderr.strip()[-500:])
    log.info("lab: %s installed into %s", checkout, target)


def provision(cfg, root: Path) -> None:
    """In a node's root before its first boot: the commands and the boot clean-up unit,
    as `make install` puts them on a real host."""
    for command in COMMANDS:
        link = root / "usr/sbin" / command
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to("/opt/xcatha/bin/" + command)
    unit = root / "etc/systemd/system" / UNIT
    if unit.is_symlink() or unit.exists():
        unit.unlink()
    shutil.copy(directory(cfg) / UNIT, unit)


def _run(argv, timeout=300):
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=dict(
        os.environ, PIP_NO_INPUT="1"))
    if result.returncode != 0:
        raise LabError("%s failed: %s" % (" ".join(argv[:4]), (result.stderr or result.stdout).strip()[-800:]))
