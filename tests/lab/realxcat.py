"""The real xCAT in the lab: xCAT's own source (xcat-core), laid out as its Debian
packages would install it, with the two workarounds PostgreSQL 15 needs.

XCAT_SRC (the make variable, passed in the environment) names a tarball of
xcat-core or an extracted tree; by default the tarball in ../shared/xcat-core
beside the repository.  Nothing of xCAT is copied into this repository: the
lab extracts the source at build time into its work dir ("stage", the DESTDIR
a dpkg-buildpackage run would fill), and each node installs it from there the
way dpkg unpacks a package, then runs the packages' configuration step
(`xcatconfig -i`).  Without a source the lab falls back to the test-only
stand-in (tests/xcat_standin) and says so.

Workarounds of xCAT bugs, applied to the staged copy only and written as the
change one would send upstream (see WORKAROUNDS):
- pgsqlsetup takes the PostgreSQL version on Debian from `dpkg -l` but matches
  only postgresql-9*; with postgresql-15 it uses the 9.1 paths and fails.
- pgsqlsetup creates xcatdb owned by postgres; since PostgreSQL 15 the public
  schema grants CREATE to its owner only, so xcatd (as xcatadm) cannot create
  its tables ("permission denied for schema public").
"""
import glob
import hashlib
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

from .util import LabError, log

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SOURCES = str(REPO.parent / "shared" / "xcat-core" / "xcat-core-*.tar.gz")
PACKAGES = ("perl-xCAT", "xCAT-server", "xCAT-client", "xCAT")
INSTALL_LISTS = {"perl-xCAT": "perl-xcat.install", "xCAT-server": "install",
                 "xCAT-client": "xcat-client.install", "xCAT": "install"}
LINK_LISTS = ("xCAT-client/debian/xcat-client.links", "xCAT-server/debian/xcat-server.links")
# Where a node finds the staged tree (read-only), to install it from.
NODE_DIST = "/usr/share/xcatha-lab/xcat-dist"

PROFILE = """XCATROOT=/opt/xcat
PATH=$XCATROOT/bin:$XCATROOT/sbin:$PATH
MANPATH=$XCATROOT/share/man:$MANPATH
export XCATROOT PATH MANPATH
export PERL_BADLANG=0
"""

# (file, what is wrong, the line as shipped, the line as it should be)
WORKAROUNDS = (
    ("opt/xcat/bin/pgsqlsetup",
     "Debian: match postgresql-<major> from dpkg -l, not only postgresql-9",
     "if ($line =~ /postgresql\\-9/) {",
     "if ($line =~ /^postgresql\\-(\\d+(\\.\\d+)?)$/) {"),
    ("opt/xcat/bin/pgsqlsetup",
     "PostgreSQL >= 15: xcatadm must own xcatdb and its public schema",
     "my $createuser = \"CREATE USER xcatadm WITH PASSWORD \\'$::adminpassword\\';\\r\";",
     "my $createuser = \"CREATE USER xcatadm WITH PASSWORD \\'$::adminpassword\\'; "
     "ALTER DATABASE $::dbname OWNER TO xcatadm; GRANT ALL ON SCHEMA public TO xcatadm;\\r\";"),
)


def source():
    """The xCAT source to use (tarball or directory), or None: the stand-in then plays xCAT."""
    wanted = os.environ.get("XCAT_SRC")
    if wanted:
        if not os.path.exists(wanted):
            raise LabError("XCAT_SRC=%s does not exist" % wanted)
        return Path(wanted)
    found = sorted(glob.glob(DEFAULT_SOURCES))
    return Path(found[-1]) if found else None


def available():
    return source() is not None


def stage_dir(cfg) -> Path:
    return cfg.workdir / "xcat-stage"


def binds(cfg):
    return [(str(stage_dir(cfg)), NODE_DIST, True)]


def _fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    if path.is_file():
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    else:
        digest.update(str(path.resolve()).encode())
    digest.update(Path(__file__).read_bytes())  # a change of the staging itself
    return digest.hexdigest()[:16]


def stage(cfg) -> Path:
    """Lay out the source as the .debs would install it, once per source (kept in the work dir)."""
    src = source()
    if src is None:
        raise LabError("no xCAT source (XCAT_SRC, or %s)" % DEFAULT_SOURCES)
    target = stage_dir(cfg)
    stamp = target / ".xcatha-stage"
    fingerprint = _fingerprint(src)
    if stamp.exists() and stamp.read_text() == fingerprint:
        return target
    tree = cfg.workdir / "xcat-src"
    for old in (tree, target):
        if old.exists():
            shutil.rmtree(old)
    if src.is_file():
        tree.mkdir(parents=True)
        with tarfile.open(src) as archive:
            top = archive.getnames()[0].split("/")[0]
            archive.extractall(tree, filter="tar") if hasattr(tarfile, "data_filter") else archive.extractall(tree)
        tree = tree / top
    else:
        tree = src
    _lay_out(tree, target)
    version = (tree / "Version").read_text().strip()
    commit = src.name
    pm = target / "opt/xcat/lib/perl/xCAT/Version.pm"
    text = pm.read_text()
    pm.write_text(text.replace("#XCATVERSIONSUBHERE", ". '%s'" % version)
                      .replace("#XCATSVNBUILDSUBHERE", ". ' (%s, staged by the xcatha lab)'" % commit))
    for path, why, shipped, fixed in WORKAROUNDS:
        _workaround(target / path, why, shipped, fixed)
    stamp.write_text(fingerprint)
    log.info("real xCAT %s staged from %s into %s", version, src, target)
    return target


def version(cfg):
    """The staged xCAT's version, as Version.pm says."""
    import re
    text = (stage_dir(cfg) / "opt/xcat/lib/perl/xCAT/Version.pm").read_text()
    found = re.search(r"\$version = ''\s*\.\s*'([^']+)'", text)
    return found.group(1) if found else "?"


def _lay_out(tree: Path, dest: Path) -> None:
    """What dh_install, dh_link and the packages' postinst steps put where."""
    dest.mkdir(parents=True)
    for package in PACKAGES:
        for line in (tree / package / "debian/dirs").read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                (dest / line).mkdir(parents=True, exist_ok=True)
        listing = tree / package / "debian" / INSTALL_LISTS[package]
        for line in listing.read_text().splitlines():
            parts = line.split()
            if len(parts) != 2 or parts[0].startswith("#"):
                continue
            pattern, where = parts[0], parts[1].lstrip("/")  # perl-xCAT's list says /opt/...
            for found in sorted(glob.glob(str(tree / package / pattern))):
                directory = dest / where
                directory.mkdir(parents=True, exist_ok=True)
                subprocess.run(["cp", "-a", found, str(directory) + "/"], check=True)
    for listing in LINK_LISTS:
        for line in (tree / listing).read_text().splitlines():
            parts = line.split()
            if len(parts) == 2:
                link = dest / parts[1]
                link.parent.mkdir(parents=True, exist_ok=True)
                if link.is_symlink() or link.exists():
                    link.unlink()
                link.symlink_to("/" + parts[0])
    for directory in ("opt/xcat/bin", "opt/xcat/sbin"):
        for entry in (dest / directory).iterdir():
            if entry.is_file() and not entry.is_symlink():
                entry.chmod(0o755)
    for entry in (dest / "opt/xcat/lib/perl").rglob("*"):
        if entry.is_file() and not entry.is_symlink():
            entry.chmod(0o644)
    # The packages' postinst steps (xCAT-client: the profile; xCAT-server: /usr/sbin/xcatd;
    # xCAT: xHRM and apache's configuration).  Debian 12 has a merged /usr: units in /usr/lib.
    (dest / "etc/profile.d").mkdir(parents=True, exist_ok=True)
    (dest / "etc/profile.d/xcat.sh").write_text(PROFILE)
    (dest / "etc/profile.d/xcat.sh").chmod(0o755)
    units = dest / "usr/lib/systemd/system"
    units.mkdir(parents=True, exist_ok=True)
    for unit in (dest / "lib/systemd/system").iterdir():
        shutil.move(str(unit), str(units / unit.name))
    shutil.rmtree(dest / "lib")
    (dest / "usr/sbin").mkdir(parents=True, exist_ok=True)
    (dest / "usr/sbin/xcatd").symlink_to("/opt/xcat/sbin/xcatd")
    shutil.copy(dest / "opt/xcat/share/xcat/scripts/xHRM", dest / "install/postscripts/xHRM")
    enabled = dest / "etc/apache2/conf-enabled/xcat.conf"
    enabled.parent.mkdir(parents=True, exist_ok=True)
    enabled.symlink_to("/etc/apache2/conf-available/xcat.conf.apach24")
    shutil.rmtree(dest / "etc/apache2/conf.d", ignore_errors=True)  # Debian's apache2 does not read it


def _workaround(path: Path, why: str, shipped: str, fixed: str) -> None:
    text = path.read_text()
    if fixed in text:
        return
    if text.count(shipped) != 1:
        raise LabError("workaround for %s (%s): the line to change is not there once; has xCAT fixed it?"
                       % (path.name, why))
    path.write_text(text.replace(shipped, fixed))
    log.info("xCAT workaround applied to %s: %s", path.name, why)
