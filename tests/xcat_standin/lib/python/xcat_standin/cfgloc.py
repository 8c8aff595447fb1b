"""/etc/xcat/cfgloc: where the xCAT database is and how to log in to it.

Formats written by xCAT's pgsqlsetup / mysqlsetup (no file means SQLite):
    Pg:dbname=xcatdb;host=<ip>|<user>|<password>
    mysql:dbname=xcatdb;host=<ip>|<user>|<password>
"""

import os
from dataclasses import dataclass, field

from . import XcatError, write_file

XCAT_ETC = "/etc/xcat"
CFGLOC_PATH = os.path.join(XCAT_ETC, "cfgloc")

PG, MYSQL, SQLITE = "Pg", "mysql", "SQLite"
ENGINES = (PG, MYSQL)


@dataclass(frozen=True)
class Cfgloc:
    engine: str                      # Pg, mysql or SQLite
    dbname: str = ""
    host: str = ""
    port: str = ""
    user: str = ""
    password: str = field(default="", repr=False)   # never printed or logged

    def public(self):
        """The cfgloc line without the password, as 'lsxcatd -a' shows it."""
        if self.engine == SQLITE:
            return ""
        dsn = "dbname=%s;host=%s" % (self.dbname, self.host)
        if self.port:
            dsn += ";port=%s" % self.port
        return "%s:%s|%s" % (self.engine, dsn, self.user)

    def line(self):
        """The full cfgloc content, password included (for the 0600 file only)."""
        return "%s|%s\n" % (self.public(), self.password)


def parse(text):
    """Parse the content of a cfgloc file."""
    text = text.strip()
    try:
        head, user, password = text.split("|", 2)
        engine, dsn = head.split(":", 1)
    except ValueError:
        raise XcatError("malformed %s (expected ENGINE:dbname=..;host=..|user|password)"
                        % CFGLOC_PATH) from None
    if engine not in ENGINES:
        raise XcatError("unsupported database engine '%s' in %s" % (engine, CFGLOC_PATH))
    params = {}
    for item in dsn.split(";"):
        if "=" in item:
            key, value = item.split("=", 1)
            params[key.strip()] = value.strip()
    if not params.get("dbname") or not params.get("host"):
        raise XcatError("%s lacks dbname= or host=" % CFGLOC_PATH)
    return Cfgloc(engine, params["dbname"], params["host"], params.get("port", ""),
                  user, password)


def load(path=CFGLOC_PATH):
    """Read cfgloc; a missing file means the SQLite tables in /etc/xcat."""
    try:
        with open(path) as f:
            return parse(f.read())
    except FileNotFoundError:
        return Cfgloc(SQLITE)


def save(cfg, path=CFGLOC_PATH):
    """Write cfgloc with mode 0600 (it holds the password); True if it changed."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return write_file(path, cfg.line(), mode=0o600)
