"""Each lab installs the checkout it runs from, as a site does: its Debian package.

Before it boots, every lab builds the .deb of its checkout (`make deb`, into its
own work dir) and each node installs it with apt before its first boot, as an
admin would: `apt-get install ./xcatha_*.deb`, every dependency resolved from
Debian packages (the host's, which `make deps` installed: the nodes' root is an
overlay over the host's, and a node has no mirror to download from).  The
package's files land in the node's own upper layer, so a re-install on the host
during a long run (the fault run, the bench) changes nothing under the running
agents, and two checkouts can run their labs side by side.
"""
import os
import subprocess
from pathlib import Path

from .util import LabError, log

REPO = Path(__file__).resolve().parents[2]
UNIT = "xcatha-boot-cleanup.service"
# The distro's interpreter and tools build the package, not a pyenv or venv first on PATH.
DISTRO_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
IN_NODE = "/run/xcatha-install/"
IMPORT_ALL = ("import importlib, pkgutil, xcatha\n"
              "for module in pkgutil.iter_modules(xcatha.__path__):\n"
              "    importlib.import_module('xcatha.' + module.name)\n"
              "assert xcatha.__file__.startswith('/usr/lib/python3/dist-packages/'), xcatha.__file__\n")


def directory(cfg) -> Path:
    return cfg.workdir / "install"


def package(cfg) -> Path:
    debs = sorted((directory(cfg) / "deb").glob("xcatha_*_all.deb"))
    if len(debs) != 1:
        raise LabError("expected one xcatha .deb in %s, found %d" % (directory(cfg) / "deb", len(debs)))
    return debs[0]


def build(cfg, checkout: Path = REPO) -> None:
    """Build the checkout's .deb into the lab's work dir (lintian checks it on the way)."""
    target = directory(cfg) / "deb"
    _run(["make", "-s", "-C", str(checkout), "deb", "DEBDIR=%s" % target], timeout=900)
    log.info("lab: %s built from %s", package(cfg), checkout)


def provision(cfg, root: Path) -> None:
    """In a node's root before its first boot: install the package with apt, chrooted
    into the node's root in namespaces of its own (no network: nothing is downloaded;
    the mounts it needs vanish with it, and no cgroup is made, unlike a container)."""
    leftover = root / "etc/systemd/system" / UNIT  # a host `make install` puts its unit there
    if leftover.is_symlink() or leftover.exists():
        leftover.unlink()
    deb = package(cfg)
    (root / IN_NODE.strip("/")).mkdir(parents=True, exist_ok=True)
    inside = ("export DEBIAN_FRONTEND=noninteractive PATH=%s\n"
              "apt-get install -y -q --reinstall --allow-downgrades %s%s\n"
              "/usr/bin/python3 -I -c \"$1\"\n"
              "/usr/sbin/xcatha --version\n" % (DISTRO_PATH, IN_NODE, deb.name))
    outside = ('mount --rbind /dev "$1/dev"\n'
               'mount --bind "$2" "$1%s"\n'
               'exec chroot "$1" /bin/sh -ec "$3" install "$4"\n' % IN_NODE)
    _run(["unshare", "--mount", "--propagation=private", "--net", "--pid", "--fork",
          "--mount-proc=%s" % (root / "proc"), "/bin/sh", "-ec", outside, "provision",
          str(root), str(deb.parent), inside, IMPORT_ALL], timeout=300)


def _run(argv, timeout=300):
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                            env=dict(os.environ, PATH=DISTRO_PATH), stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise LabError("%s failed: %s" % (" ".join(argv[:4]), (result.stderr + result.stdout).strip()[-1500:]))
    return result
