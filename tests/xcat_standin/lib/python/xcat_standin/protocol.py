"""The xcatd request/response protocol (real xCAT's XML, over plain TCP).

A client sends one <xcatrequest>; xcatd answers with a series of
<xcatresponse> elements carrying <data> lines or <error>/<errorcode>, and ends
with <xcatresponse><serverdone/></xcatresponse>.  Real xcatd wraps this in SSL.
"""

import os
import socket
import xml.etree.ElementTree as ET

from . import VERSION, XcatError, cfgloc
from . import db as xdb
from .cfgloc import SQLITE

DEFAULT_PORT = 3001
MAX_REQUEST = 64 * 1024


class DaemonUnreachable(XcatError):
    pass


def daemon_address():
    """(host, port) of xcatd: XCATHOST=host:port as in xCAT, else localhost:3001."""
    host, _, port = os.environ.get("XCATHOST", "").partition(":")
    return host or "localhost", int(port or DEFAULT_PORT)


def _unreachable(host, port):
    # xCAT's client message; health checks and people grep for it.
    return DaemonUnreachable("Unable to open socket connection to xcatd daemon on %s:%d."
                             % (host, port))


def _connect(timeout):
    host, port = daemon_address()
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except OSError:
        raise _unreachable(host, port) from None


def require_daemon():
    """Fail like an xCAT client when xcatd is down (XCATBYPASS=1 skips this)."""
    if os.environ.get("XCATBYPASS"):
        return
    _connect(5).close()


def open_database():
    """What every table command does first: xcatd must be up, then the DB."""
    require_daemon()
    return xdb.connect(cfgloc.load())


# --- requests --------------------------------------------------------------

def encode_request(command, args):
    root = ET.Element("xcatrequest")
    ET.SubElement(root, "command").text = command
    for arg in args:
        ET.SubElement(root, "arg").text = arg
    return ET.tostring(root)


def decode_request(data):
    root = ET.fromstring(data)
    if root.tag != "xcatrequest":
        raise ValueError("not an xcatrequest")
    return root.findtext("command") or "", [a.text or "" for a in root.findall("arg")]


# --- responses -------------------------------------------------------------

def encode_data(line):
    root = ET.Element("xcatresponse")
    ET.SubElement(root, "data").text = line
    return ET.tostring(root)


def encode_error(message, code=1):
    root = ET.Element("xcatresponse")
    ET.SubElement(root, "error").text = message
    ET.SubElement(root, "errorcode").text = str(code)
    return ET.tostring(root)


SERVER_DONE = b"<xcatresponse><serverdone /></xcatresponse>"


def call(command, args, timeout=60):
    """Send one request to xcatd; return (data lines, [(error, code), ...])."""
    sock = _connect(timeout)
    try:
        sock.sendall(encode_request(command, args))
        buf = b""
        while b"<serverdone" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
    finally:
        sock.close()
    lines, errors = [], []
    for resp in ET.fromstring(b"<r>" + buf + b"</r>").findall("xcatresponse"):
        lines += [d.text or "" for d in resp.findall("data")]
        if resp.find("error") is not None:
            errors.append((resp.findtext("error") or "", int(resp.findtext("errorcode") or 1)))
    if b"<serverdone" not in buf:
        errors.append(("connection to xcatd closed before the request completed", 1))
    return lines, errors


# --- lsxcatd ---------------------------------------------------------------

def version_line():
    return "Version %s (xCAT test stand-in, not the real xCAT)" % VERSION


def database_lines(cfg):
    """What 'lsxcatd -d' shows: the cfgloc without its password, split up."""
    if cfg.engine == SQLITE:
        return ["dbengine=SQLite"]
    return ["cfgloc=" + cfg.public(), "dbengine=" + cfg.engine, "dbname=" + cfg.dbname,
            "dbhost=" + cfg.host, "dbadmin=" + cfg.user]


def lsxcatd_lines(option, cfg):
    if option == "-v":
        return [version_line()]
    if option == "-d":
        return database_lines(cfg)
    if option == "-a":
        return [version_line(), "This is a Management Node"] + database_lines(cfg)
    raise XcatError("lsxcatd: unsupported option %s" % option)
