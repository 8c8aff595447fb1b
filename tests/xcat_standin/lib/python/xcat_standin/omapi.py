"""OMAPI through ISC's `omshell`: how xCAT's makedhcp changes a RUNNING dhcpd.

An omshell script is a list of steps (one omshell command each).  omshell
prints the prompt '> ' before it reads each command, so the text after the
i-th prompt is the response to the i-th command; every response that does not
start with 'obj:' is an error ("can't open object: not found", "not
connected.", "dhcpctl_connect: no more", ...).  omshell's exit code says
nothing, so each response is checked against what its step allows.

The HMAC-MD5 secret goes to omshell on stdin (never argv) and is scrubbed from
every message.  dhcpd itself accepts nearly anything through OMAPI (an IP
'1.2.3' becomes 01:02:03, a name with a space is stored as is) and writes it
to its leases file, from which it would then refuse to start: callers must
validate names, MACs and IPs first (see dhcp.host_entries()).
"""

import base64
import ipaddress
import re
import secrets

from . import XcatError, run

SERVER = "127.0.0.1"
PORT = 7911
KEY_NAME = "xcat_key"
OMSHELL = "omshell"

NOT_FOUND = ": not found"       # "can't open object: not found", "can't destroy object: not found"
NOT_OPEN = "not open."          # `close` after a successful `remove`: nothing left to close


class OmapiError(XcatError):
    pass


def new_secret():
    """A random HMAC-MD5 key, base64 as dhcpd.conf's `secret` wants it."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def check_secret(secret):
    """Refuse a secret dhcpd.conf could not parse (it is written there verbatim)."""
    if not secret or not re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", secret):
        raise XcatError("the OMAPI secret is not a base64 key")
    try:
        base64.b64decode(secret, validate=True)
    except ValueError:
        raise XcatError("the OMAPI secret is not a base64 key") from None
    return secret


def conf_lines(secret):
    """The dhcpd.conf statements that open OMAPI with our key.  (dhcpd has no
    option for the listen address: it listens on every address, key required.)"""
    check_secret(secret)
    return ["omapi-port %d;" % PORT,
            "key %s {" % KEY_NAME,
            "  algorithm hmac-md5;",
            '  secret "%s";' % secret,
            "};",
            "omapi-key %s;" % KEY_NAME]


def ip_from_hex(value):
    """'c0:a8:4c:65' (how omshell prints addresses) -> '192.168.76.101'."""
    try:
        raw = bytes(int(part, 16) for part in value.split(":"))
        return str(ipaddress.IPv4Address(raw))
    except ValueError:
        return value


def split_responses(output):
    """omshell's stdout -> the text after each prompt '> ' (one per command,
    plus a last one for end of input)."""
    parts = []
    current = None
    line_start = True
    i = 0
    while i < len(output):
        if line_start and output.startswith("> ", i):
            if current is not None:
                parts.append(current)
            current = ""
            i += 2
            continue            # consecutive prompts: commands without output
        if current is None:
            current = ""        # nothing precedes the first prompt; be lenient
        current += output[i]
        line_start = output[i] == "\n"
        i += 1
    if current is not None:
        parts.append(current)
    return parts


def parse_object(response):
    """'obj: host\\nname = "n"\\nip-address = c0:..' -> {'name': 'n', ...}."""
    fields = {}
    for line in response.splitlines()[1:]:
        key, sep, value = line.partition(" = ")
        if sep:
            fields[key.strip()] = value.strip().strip('"')
    return fields


class Script:
    """One omshell session: connect, then host operations, checked step by step."""

    def __init__(self, secret, server=SERVER, port=PORT):
        self.secret = check_secret(secret)
        self.server, self.port = server, port
        # (command, what it is about, responses allowed besides 'obj: ...', query key)
        self.steps = []
        self._step("server %s" % server, "connect", allow_empty=True)
        self._step("port %d" % port, "connect", allow_empty=True)
        self._step("key %s %s" % (KEY_NAME, secret), "connect", allow_empty=True)
        self._step("connect", "connect")

    def _step(self, command, about, allow=(), allow_empty=False, query=None):
        if "\n" in command or "\r" in command:
            raise XcatError("refusing an omshell command with a line break (%s)" % about)
        self.steps.append((command, about, tuple(allow), allow_empty, query))

    def _open_and_remove(self, about, sets):
        self._step("new host", about)
        for attr in sets:
            self._step("set %s" % attr, about)
        self._step("open", about, allow=(NOT_FOUND,))
        self._step("remove", about, allow=(NOT_FOUND,))
        self._step("close", about, allow=(NOT_OPEN,))

    def remove_host(self, name, mac=None):
        """Remove host object NAME and any host object holding MAC (xCAT's delnode)."""
        self._open_and_remove(name, ['name = "%s"' % name])
        if mac:
            self._open_and_remove(name, ["hardware-address = %s" % mac, "hardware-type = 1"])

    def add_host(self, name, mac, ip):
        """Replace whatever holds NAME or MAC by a fixed-address host object."""
        self.remove_host(name, mac)
        self._step("new host", name)
        for attr in ('name = "%s"' % name, "hardware-address = %s" % mac, "hardware-type = 1",
                     "ip-address = %s" % ip, 'statements = "option host-name \\"%s\\";"' % name):
            self._step("set %s" % attr, name)
        self._step("create", name)
        self._step("close", name)

    def query_host(self, name):
        self._step("new host", name)
        self._step('set name = "%s"' % name, name)
        self._step("open", name, allow=(NOT_FOUND,), query=name)
        self._step("close", name)

    def text(self):
        return "".join(command + "\n" for command, *_ in self.steps)

    def _scrub(self, text):
        return text.replace(self.secret, "<secret>")

    def check(self, output, errors=""):
        """Verify every response (ERRORS: omshell's stderr, where connect
        failures go); return {name: fields or None} for the queries."""
        responses = split_responses(output)
        where = "dhcpd's OMAPI at %s:%d" % (self.server, self.port)
        if len(responses) < len(self.steps) + 1:
            raise OmapiError("omshell stopped after %d of %d commands; output: %s" % (
                max(len(responses) - 1, 0), len(self.steps),
                self._scrub(" | ".join(output.split("\n")[-5:]).strip())))
        found = {}
        for (command, about, allow, allow_empty, query), response in zip(self.steps, responses):
            first = response.split("\n", 1)[0].strip()
            if first.startswith("obj:") and not (command == "connect" and first != "obj: <null>"):
                if query is not None:
                    found[query] = parse_object(response)
                continue
            if (allow_empty and not first) or any(first.endswith(a) for a in allow):
                if query is not None:
                    found[query] = None
                continue
            verb = command.split()[0]
            if about == "connect":
                detail = first or " ".join(errors.split()) or "no answer"
                raise OmapiError("cannot connect to %s (is dhcpd running? makedhcp -n configures it): %s"
                                 % (where, self._scrub(detail)))
            hint = " (wrong OMAPI key? makedhcp -n writes it)" if "reset by peer" in first else ""
            raise OmapiError("%s: OMAPI '%s' failed on %s: %s%s" % (about, verb, where, self._scrub(first), hint))
        return found

    def run(self, timeout=60):
        proc = run([OMSHELL], check=False, input_text=self.text(), timeout=timeout)
        if proc.returncode != 0:
            raise OmapiError("omshell failed (rc=%d): %s" % (
                proc.returncode, self._scrub((proc.stderr or proc.stdout).strip()[-300:])))
        return self.check(proc.stdout, proc.stderr)
