"""Unit tests of the xCAT stand-in's pure parts (no root, no daemons).

The stand-in itself is exercised against the real daemons by the lab tests.
"""

import ipaddress
import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "xcat_standin" / "lib" / "python"))

from xcat_standin import XcatError, cfgloc, dhcp, dns, omapi, protocol  # noqa: E402
from xcat_standin.conserver import conserver_cf  # noqa: E402
from xcat_standin.db import Database, SqliteClient, quote_literal  # noqa: E402

SITE = {"master": "192.168.78.10", "domain": "cluster.lab", "nameservers": "192.168.78.10"}
NODES = [
    {"name": "xcatmn", "groups": "__mgmtnode", "ip": "192.168.78.10", "mac": None, "console": None},
    {"name": "node01", "groups": "all", "ip": "192.168.78.101", "mac": "52:54:00:78:00:65",
     "console": "1"},
]
NETWORKS = [{"netname": "lab", "net": "192.168.78.0", "mask": "255.255.255.0",
             "gateway": "192.168.78.1", "dynamicrange": "192.168.78.100-192.168.78.150"}]


def test_cfgloc_roundtrip_hides_password():
    cfg = cfgloc.parse("Pg:dbname=xcatdb;host=192.168.78.10|xcatadm|s3cr|et\n")
    assert (cfg.engine, cfg.dbname, cfg.host, cfg.user) == ("Pg", "xcatdb", "192.168.78.10", "xcatadm")
    assert cfg.password == "s3cr|et"
    assert cfg.public() == "Pg:dbname=xcatdb;host=192.168.78.10|xcatadm"
    assert "s3cr" not in repr(cfg)
    assert cfgloc.parse(cfg.line()) == cfg


@pytest.mark.parametrize("text", ["garbage", "DB2:dbname=x;host=y|u|p", "Pg:dbname=x|u|p"])
def test_cfgloc_rejects_bad_content(text):
    with pytest.raises(XcatError):
        cfgloc.parse(text)


def test_cfgloc_missing_means_sqlite(tmp_path):
    assert cfgloc.load(str(tmp_path / "none")).engine == cfgloc.SQLITE


def test_lsxcatd_lines_have_no_password():
    cfg = cfgloc.parse("mysql:dbname=xcatdb;host=10.0.0.1|xcatadmin|pw")
    lines = protocol.lsxcatd_lines("-a", cfg)
    assert lines[1] == "This is a Management Node"
    assert lines[2:] == ["cfgloc=mysql:dbname=xcatdb;host=10.0.0.1|xcatadmin", "dbengine=mysql",
                         "dbname=xcatdb", "dbhost=10.0.0.1", "dbadmin=xcatadmin"]
    assert not any("pw" in line for line in lines)


def test_protocol_roundtrip():
    assert protocol.decode_request(protocol.encode_request("lsxcatd", ["-a"])) == ("lsxcatd", ["-a"])


def test_quote_literal():
    assert quote_literal("it's", "Pg") == "'it''s'"
    assert quote_literal("a\\b", "mysql") == "'a\\\\b'"
    assert quote_literal(None, "Pg") == "NULL"


def test_sqlite_tables(tmp_path):
    database = Database(SqliteClient(str(tmp_path), create=True))
    database.ensure_tables()
    assert database.put("site", {"key": "domain", "value": "cluster.lab"})
    assert not database.put("site", {"key": "domain", "value": "cluster.lab"})
    assert database.site() == {"domain": "cluster.lab"}
    assert database.delete("site", "domain") and database.site() == {}
    assert sqlite3.connect(str(tmp_path / "site.sqlite")).execute("SELECT 1 FROM site").fetchall() == []


def test_dns_zones():
    zones, files = dns.build(SITE, NODES, NETWORKS, serial=1)
    assert zones == [("cluster.lab", "db.cluster.lab"), ("78.168.192.IN-ADDR.ARPA", "db.192.168.78")]
    assert "xcatmn.cluster.lab. IN A 192.168.78.10" in files["db.cluster.lab"]
    assert "IN NS xcatmn.cluster.lab." in files["db.cluster.lab"]
    assert "101.78.168.192.IN-ADDR.ARPA. IN PTR node01.cluster.lab." in files["db.192.168.78"]
    conf = dns.named_conf("/var/lib/bind", zones)
    assert "allow-query { any; };" in conf and "recursion no;" in conf


def test_dns_needs_domain():
    with pytest.raises(XcatError, match="domain not defined"):
        dns.build({"master": "10.0.0.1"}, NODES, NETWORKS)


@pytest.mark.parametrize("cidr,zones", [("10.1.2.0/24", 1), ("10.1.0.0/23", 2),
                                         ("10.1.0.0/16", 1), ("10.0.0.0/15", 2)])
def test_reverse_zones(cidr, zones):
    assert len(dns.reverse_zones(ipaddress.IPv4Network(cidr))) == zones


SECRET = "c2VjcmV0LW9tYXBpLWtleS0wMTIzNDU2Nzg5YWJjZGVm"


def test_dhcpd_conf():
    conf = dhcp.dhcpd_conf(SITE, NETWORKS, SECRET)
    assert "subnet 192.168.78.0 netmask 255.255.255.0 {" in conf
    assert "range dynamic-bootp 192.168.78.100 192.168.78.150;" in conf
    assert "option domain-name-servers 192.168.78.10;" in conf
    assert "omapi-port 7911;" in conf and "omapi-key xcat_key;" in conf
    assert 'key xcat_key {\n  algorithm hmac-md5;\n  secret "%s";\n};' % SECRET in conf
    assert "include" not in conf and "host " not in conf       # hosts go through OMAPI
    assert dhcp.interfaces({"dhcpinterfaces": "mn1|eth0,eth1"}) == ["eth0", "eth1"]
    with pytest.raises(XcatError):
        dhcp.dhcpd_conf(SITE, [], SECRET)


@pytest.mark.parametrize("secret", ["", 'abc";};', "not base64!", "QUJD\n"])
def test_dhcpd_conf_refuses_a_bad_secret(secret):
    with pytest.raises(XcatError, match="not a base64 key"):
        dhcp.dhcpd_conf(SITE, NETWORKS, secret)


def test_new_secret():
    first, second = omapi.new_secret(), omapi.new_secret()
    assert first != second and omapi.check_secret(first) == first


def test_host_entries():
    nodes = NODES + [{"name": "node02", "ip": None, "mac": "52:54:00:78:00:66"},
                     {"name": "node00", "ip": "192.168.78.100", "mac": "52:54:00:78:00:64".upper()}]
    entries, warnings = dhcp.host_entries(nodes)
    assert entries == [("node00", "52:54:00:78:00:64", "192.168.78.100"),
                       ("node01", "52:54:00:78:00:65", "192.168.78.101")]
    assert warnings == ["node02 has a MAC but no IP; skipped"]


@pytest.mark.parametrize("node,message", [
    ({"name": "node01", "ip": "192.168.78.101", "mac": "not-a-mac"}, "node01: invalid MAC address 'not-a-mac'"),
    ({"name": "node01", "ip": "192.168.78.101", "mac": "52:54:00:78:00:65\nconnect"}, "invalid MAC"),
    ({"name": "node01", "ip": "1.2.3", "mac": "52:54:00:78:00:65"}, "node01: invalid IP address '1.2.3'"),
    ({"name": 'a"b', "ip": "192.168.78.101", "mac": "52:54:00:78:00:65"}, "invalid node name"),
    ({"name": "a b", "ip": "192.168.78.101", "mac": "52:54:00:78:00:65"}, "invalid node name"),
])
def test_host_entries_refuse_invalid_nodes(node, message):
    with pytest.raises(XcatError, match="nothing was changed") as info:
        dhcp.host_entries(NODES + [node])
    assert message in str(info.value)


def test_omshell_script_for_add():
    script = omapi.Script(SECRET)
    script.add_host("node01", "52:54:00:78:00:65", "192.168.78.101")
    lines = script.text().splitlines()
    assert lines[:4] == ["server 127.0.0.1", "port 7911", "key xcat_key %s" % SECRET, "connect"]
    assert sum(SECRET in line for line in lines) == 1
    # remove whatever holds the name or the MAC, then create
    assert lines[4:9] == ["new host", 'set name = "node01"', "open", "remove", "close"]
    assert lines[9:15] == ["new host", "set hardware-address = 52:54:00:78:00:65", "set hardware-type = 1",
                           "open", "remove", "close"]
    assert lines[15:] == ["new host", 'set name = "node01"', "set hardware-address = 52:54:00:78:00:65",
                          "set hardware-type = 1", "set ip-address = 192.168.78.101",
                          'set statements = "option host-name \\"node01\\";"', "create", "close"]


def test_omshell_script_refuses_line_breaks():
    with pytest.raises(XcatError, match="line break"):
        omapi.Script(SECRET).query_host("node01\nconnect")


def _output(*responses):
    """omshell's stdout for these responses: a prompt before each command and at EOF."""
    return "".join("> " + r for r in responses) + "> "


def test_omshell_output_query():
    script = omapi.Script(SECRET)
    script.query_host("node01")
    script.query_host("node02")
    found = ('obj: host\nname = "node01"\nip-address = c0:a8:4e:65\n'
             "hardware-address = 52:54:00:78:00:65\nhardware-type = 00:00:00:01\n")
    out = _output("", "", "", "obj: <null>\n",
                  "obj: host\n", 'obj: host\nname = "node01"\n', found, "obj: <null>\n",
                  "obj: host\n", 'obj: host\nname = "node02"\n',
                  'can\'t open object: not found\nobj: host\nname = "node02"\n', "obj: <null>\n")
    result = script.check(out)
    assert result["node02"] is None
    assert result["node01"]["hardware-address"] == "52:54:00:78:00:65"
    assert omapi.ip_from_hex(result["node01"]["ip-address"]) == "192.168.78.101"


def test_omshell_output_remove_tolerates_missing_objects():
    script = omapi.Script(SECRET)
    script.remove_host("node01")
    out = _output("", "", "", "obj: <null>\n", "obj: host\n", 'obj: host\nname = "node01"\n',
                  "obj: host\nname = ...\n", "obj: <null>\n", "not open.\nobj: <null>\n")
    assert script.check(out) == {}
    out = _output("", "", "", "obj: <null>\n", "obj: host\n", 'obj: host\nname = "node01"\n',
                  "can't open object: not found\n", "can't destroy object: not found\n", "obj: <null>\n")
    assert script.check(out) == {}


def test_omshell_errors_name_the_cause_not_the_secret():
    script = omapi.Script(SECRET)
    script.query_host("node01")
    # connect failures go to stderr; the later commands then say "not connected."
    down = _output("", "", "", "", "not connected.\n", "no open object.\n", "not connected.\n", "not connected.\n")
    with pytest.raises(XcatError, match="cannot connect .*dhcpctl_connect: no more") as info:
        script.check(down, "dhcpctl_connect: no more\n")
    assert SECRET not in str(info.value)
    wrong_key = _output("", "", "", "obj: <null>\n", "obj: host\n", 'obj: host\nname = "node01"\n',
                        "can't open object: connection reset by peer %s\n" % SECRET, "obj: <null>\n")
    with pytest.raises(XcatError, match="node01: OMAPI 'open' failed .*wrong OMAPI key") as info:
        script.check(wrong_key)
    assert SECRET not in str(info.value)
    with pytest.raises(XcatError, match="omshell stopped after 4 of 8 commands"):
        script.check(_output("", "", "", "obj: <null>\n"))


def test_omshell_create_failure_is_an_error():
    script = omapi.Script(SECRET)
    script.add_host("node01", "52:54:00:78:00:65", "192.168.78.101")
    responses = ["", "", "", "obj: <null>\n"] + ["obj: host\n"] * 19
    responses[-2] = "can't create object: already exists\n"
    with pytest.raises(XcatError, match="node01: OMAPI 'create' failed.*already exists"):
        script.check(_output(*responses))
    responses[-2] = "obj: host\n"
    assert script.check(_output(*responses)) == {}


def test_conserver_cf():
    text = conserver_cf([NODES[1]], "/var/log/conserver/&.log", "/opt/xcat/fakecons")
    assert "console node01 {" in text and "exec /opt/xcat/fakecons node01;" in text
    assert "master 127.0.0.1;" in text
