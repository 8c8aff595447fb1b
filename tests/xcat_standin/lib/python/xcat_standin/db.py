"""xCAT database access through the engines' own clients.

PostgreSQL and MariaDB are reached with `psql` / `mariadb` at the cfgloc host
with the cfgloc credentials, so a dead or unreachable server fails exactly as
it would for xCAT.  The password goes to the child in PGPASSWORD / MYSQL_PWD,
never in argv, and SQL is fed on stdin.  SQLite keeps one file per table in
/etc/xcat, as xCAT does.
"""

import csv
import io
import os
import shutil
import sqlite3

from . import XcatError, run
from .cfgloc import MYSQL, PG, SQLITE, XCAT_ETC

CONNECT_TIMEOUT = 5   # seconds; an unreachable DB host must fail fast

# table -> (primary key, columns).  A small subset of xCAT's schema: site and
# networks keep xCAT's column names; "nodes" folds xCAT's nodelist, hosts, mac
# and nodehm tables into one.
SCHEMA = {
    "site": ("key", ("key", "value", "comments", "disable")),
    "networks": ("netname", ("netname", "net", "mask", "mgtifname", "gateway",
                             "dynamicrange", "nameservers", "domain", "comments",
                             "disable")),
    "nodes": ("name", ("name", "groups", "ip", "mac", "console", "comments",
                       "disable")),
}


class DBError(XcatError):
    """The database could not be reached or a statement failed."""


def quote_ident(name, engine):
    # `key` is reserved in MySQL; quote every identifier on every engine.
    return "`%s`" % name if engine == MYSQL else '"%s"' % name


def quote_literal(value, engine):
    if value is None:
        return "NULL"
    text = str(value).replace("'", "''")
    if engine == MYSQL:                 # MySQL also treats backslash as an escape
        text = text.replace("\\", "\\\\")
    return "'%s'" % text


def _binary(*names):
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise DBError("none of %s is installed" % ", ".join(names))


class CliClient:
    """Runs SQL through psql or mariadb, SQL on stdin, password in the env."""

    def __init__(self, engine, argv, env, what):
        self.engine = engine
        self.argv = argv
        self.env = env
        self.what = what            # for messages: "xcatadm@192.168.78.10/xcatdb"

    def execute(self, sql, table=None):
        try:
            proc = run(self.argv, check=False, env=self.env, input_text=sql,
                       timeout=CONNECT_TIMEOUT * 6)
        except XcatError as exc:
            raise DBError("%s database %s: %s" % (self.engine, self.what, exc)) from None
        if proc.returncode != 0:
            detail = " ".join(proc.stderr.split()) or "rc=%d" % proc.returncode
            raise DBError("%s database %s: %s" % (self.engine, self.what, detail))
        return self._parse(proc.stdout)

    def _parse(self, out):
        if self.engine == PG:     # psql --csv: NULL and '' both come back empty
            return [tuple(v if v != "" else None for v in row)
                    for row in csv.reader(io.StringIO(out)) if row]
        rows = []                 # mariadb --batch: tab separated, escaped, NULL
        for line in out.splitlines():
            rows.append(tuple(None if v == "NULL" else _mysql_unescape(v)
                              for v in line.split("\t")))
        return rows


def _mysql_unescape(value):
    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            i += 1
            ch = {"n": "\n", "t": "\t", "0": "\0", "\\": "\\"}.get(value[i], value[i])
        out.append(ch)
        i += 1
    return "".join(out)


def _child_env(**extra):
    env = dict(os.environ)
    env.update(extra)
    return env


def pg_client(cfg):
    argv = [_binary("psql"), "-X", "-q", "--csv", "-t", "-v", "ON_ERROR_STOP=1",
            "-h", cfg.host, "-U", cfg.user, "-d", cfg.dbname, "-f", "-"]
    if cfg.port:
        argv[1:1] = ["-p", cfg.port]
    env = _child_env(PGPASSWORD=cfg.password, PGCONNECT_TIMEOUT=str(CONNECT_TIMEOUT),
                     PGOPTIONS="-c client_min_messages=warning", PGAPPNAME="xcatd")
    return CliClient(PG, argv, env, "%s@%s/%s" % (cfg.user, cfg.host, cfg.dbname))


def pg_superuser():
    """psql as the postgres OS user over the local socket (installer only)."""
    argv = ["runuser", "-u", "postgres", "--", _binary("psql"), "-X", "-q", "--csv",
            "-t", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-f", "-"]
    env = _child_env(PGOPTIONS="-c client_min_messages=warning")
    return CliClient(PG, argv, env, "postgres (local superuser)")


def mysql_client(cfg):
    # --no-defaults: no option file may override the cfgloc user or password.
    argv = [_binary("mariadb", "mysql"), "--no-defaults", "--batch",
            "--skip-column-names", "--connect-timeout=%d" % CONNECT_TIMEOUT,
            "-h", cfg.host, "-u", cfg.user, cfg.dbname]
    if cfg.port:
        argv[-1:-1] = ["-P", cfg.port]
    env = _child_env(MYSQL_PWD=cfg.password)
    return CliClient(MYSQL, argv, env, "%s@%s/%s" % (cfg.user, cfg.host, cfg.dbname))


def mysql_root():
    """mariadb as root over the local socket (unix_socket auth; installer only)."""
    argv = [_binary("mariadb", "mysql"), "--batch", "--skip-column-names",
            "--connect-timeout=%d" % CONNECT_TIMEOUT, "-u", "root"]
    return CliClient(MYSQL, argv, _child_env(), "root (local socket)")


class SqliteClient:
    """xCAT's SQLite layout: one /etc/xcat/<table>.sqlite file per table."""

    engine = SQLITE

    def __init__(self, directory=XCAT_ETC, create=False):
        self.directory = directory
        self.create = create

    def execute(self, sql, table):
        path = os.path.join(self.directory, table + ".sqlite")
        if not self.create and not os.path.exists(path):
            raise DBError("SQLite table file %s does not exist" % path)
        try:
            conn = sqlite3.connect(path, timeout=10)
            try:
                with conn:
                    cur = conn.execute(sql) if sql.lstrip().upper().startswith(
                        "SELECT") else conn.executescript(sql)
                    return [tuple(r) for r in cur.fetchall()]
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise DBError("SQLite %s: %s" % (path, exc)) from None


class Database:
    """Table-level access to the xCAT tables of one database."""

    def __init__(self, client):
        self.client = client
        self.engine = client.engine

    def _q(self, name):
        return quote_ident(name, self.engine)

    def _lit(self, value):
        return quote_literal(value, self.engine)

    def select(self, table, key=None):
        """All rows of TABLE (or the one whose primary key is KEY) as dicts."""
        pk, cols = SCHEMA[table]
        sql = "SELECT %s FROM %s" % (", ".join(self._q(c) for c in cols), self._q(table))
        if key is not None:
            sql += " WHERE %s = %s" % (self._q(pk), self._lit(key))
        sql += " ORDER BY %s;" % self._q(pk)
        return [dict(zip(cols, row)) for row in self.client.execute(sql, table)]

    def ensure_tables(self):
        for table, (pk, cols) in SCHEMA.items():
            coldefs = ", ".join("%s VARCHAR(255)%s" % (self._q(c), " NOT NULL" if c == pk else "")
                                for c in cols)
            self.client.execute("CREATE TABLE IF NOT EXISTS %s (%s, PRIMARY KEY (%s));"
                                % (self._q(table), coldefs, self._q(pk)), table)

    def put(self, table, row):
        """Insert or replace one row (by primary key); False if it was already so."""
        pk, cols = SCHEMA[table]
        full = {c: (row.get(c) if row.get(c) != "" else None) for c in cols}
        current = self.select(table, full[pk])
        if current and current[0] == full:
            return False
        self.client.execute(
            "BEGIN; DELETE FROM %s WHERE %s = %s; INSERT INTO %s (%s) VALUES (%s); COMMIT;" % (
                self._q(table), self._q(pk), self._lit(full[pk]), self._q(table),
                ", ".join(self._q(c) for c in cols),
                ", ".join(self._lit(full[c]) for c in cols)), table)
        return True

    def delete(self, table, key):
        """Delete one row by primary key; False if there was none."""
        pk, _ = SCHEMA[table]
        if not self.select(table, key):
            return False
        self.client.execute("DELETE FROM %s WHERE %s = %s;" % (
            self._q(table), self._q(pk), self._lit(key)), table)
        return True

    def site(self):
        """The site table as {key: value}, disabled rows left out."""
        return {r["key"]: r["value"] for r in self.select("site")
                if r["value"] is not None and r["disable"] not in ("1", "yes")}

    def nodes(self):
        return [r for r in self.select("nodes") if r["disable"] not in ("1", "yes")]

    def networks(self):
        return [r for r in self.select("networks") if r["disable"] not in ("1", "yes")]


def connect(cfg, create=False):
    """The xCAT database described by a Cfgloc (see cfgloc.load())."""
    if cfg.engine == PG:
        return Database(pg_client(cfg))
    if cfg.engine == MYSQL:
        return Database(mysql_client(cfg))
    return Database(SqliteClient(create=create))
