"""Unit tests of the xCAT stand-in's pure parts (no root, no daemons).

The stand-in itself is exercised against the real daemons by the lab tests.
"""

import ipaddress
import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "xcat_standin" / "lib" / "python"))

from xcat_standin import XcatError, cfgloc, dhcp, dns, protocol  # noqa: E402
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


def test_dhcpd_conf_and_hosts():
    conf = dhcp.dhcpd_conf(SITE, NETWORKS)
    assert "subnet 192.168.78.0 netmask 255.255.255.0 {" in conf
    assert "range dynamic-bootp 192.168.78.100 192.168.78.150;" in conf
    assert "option domain-name-servers 192.168.78.10;" in conf
    assert 'include "%s";' % dhcp.HOSTS_CONF in conf
    hosts = {"node01": ("52:54:00:78:00:65", "192.168.78.101")}
    assert dhcp.parse_hosts(dhcp.render_hosts(hosts)) == hosts
    assert dhcp.interfaces({"dhcpinterfaces": "mn1|eth0,eth1"}) == ["eth0", "eth1"]
    with pytest.raises(XcatError):
        dhcp.dhcpd_conf(SITE, [])


def test_conserver_cf():
    text = conserver_cf([NODES[1]], "/var/log/conserver/&.log", "/opt/xcat/fakecons")
    assert "console node01 {" in text and "exec /opt/xcat/fakecons node01;" in text
    assert "master 127.0.0.1;" in text
