"""The xCAT tables that must name the VIP, and the certificates' policy rows: tabdump's output
recorded in the lab, healthy and with drift seeded with chtab (fixtures/README.md)."""
import pytest

from xcatha import xcat, xcat_tables
from xcatha.preflight import FAIL, OK

from .conftest import Call, fixture, pair_config

NET = "192.168.72"
XCAT_ENV = {"XCATROOT": "/opt/xcat", "HOME": "/root"}


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setattr(xcat, "path_of", lambda name: "/opt/xcat/sbin/" + name)
    for name in ("SERVER_CERT", "CLIENT_CERT"):
        path = tmp_path / (name.lower() + ".pem")
        path.write_text("-----BEGIN CERTIFICATE-----\n")
        monkeypatch.setattr(xcat_tables, name, str(path))
    return pair_config(tmp_path, net=NET)


def reads(drift=(), site=None):
    """The commands a read runs, with the healthy (or, for the tables in drift, the drifted) dumps."""
    calls = []
    for table in ("site", "networks", "noderes", "policy"):
        text = fixture("tabdump-%s%s.csv" % (table, "-drift" if table in drift else ""))
        if table == "site" and site:
            text = site(text)
        calls.append(Call(["/opt/xcat/sbin/tabdump", table], stdout=text, env=XCAT_ENV))
    for name, cn in (("SERVER_CERT", "xcatmn"), ("CLIENT_CERT", "root")):
        calls.append(Call(["openssl", "x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in",
                           getattr(xcat_tables, name)], stdout="subject=CN=%s\n" % cn))
    return calls


def test_the_labs_tables_are_right(runner, config):
    runner.expect(*reads())
    findings = xcat_tables.check(config)
    assert [level for level, _what, _fix in findings] == [OK] * 8
    assert [what for _level, what, _fix in findings][-2:] == ["policy: the certificate name xcatmn is trusted",
                                                             "policy: the certificate name root is allow"]


DRIFT = [  # what xcatha check printed in the lab after the chtab commands that seeded it
    (FAIL, "site.master is 192.168.72.12, not the VIP 192.168.72.10", "chtab key=master site.value=192.168.72.10"),
    (FAIL, "site.nameservers is 192.168.72.11,8.8.8.8: the nodes must ask the VIP 192.168.72.10 (makedns serves "
           "it there)", "chtab key=nameservers site.value=192.168.72.10,8.8.8.8"),
    (FAIL, "networks.tftpserver of 192_168_72_0-255_255_255_0 is host2, host2's own address or name, not the VIP",
     "chtab netname=192_168_72_0-255_255_255_0 networks.tftpserver=192.168.72.10"),
    (FAIL, "noderes.xcatmaster of cn2 is 192.168.72.11, host1's own address or name, not the VIP",
     "chtab node=cn2 noderes.xcatmaster=192.168.72.10"),
    (OK, "noderes.tftpserver is the VIP or empty in all 2 row(s)", ""),
    (OK, "noderes.nfsserver is the VIP or empty in all 2 row(s)", ""),
    (FAIL, "policy: the certificate name xcatmn, which both hosts present, is rule=allow, not trusted",
     "chtab priority=1.2 policy.name=xcatmn policy.rule=trusted"),
    (OK, "policy: the certificate name root is allow", ""),
]


def test_seeded_drift_is_found_with_the_exact_fix(runner, config):
    runner.expect(*reads(drift=("site", "networks", "noderes", "policy")))
    assert xcat_tables.check(config) == DRIFT


def edit_dump(runner, table, old, new):
    """The recorded dump of table with old replaced by new."""
    real_run = runner.run

    def edited(argv, **kwargs):
        rc, stdout, stderr = real_run(argv, **kwargs)
        if argv[-1] == table:
            assert old in stdout
            stdout = stdout.replace(old, new)
        return rc, stdout, stderr
    runner.run = edited


def test_a_service_node_is_a_warning_not_a_failure(runner, config):
    runner.expect(*reads())
    edit_dump(runner, "noderes", '"cn2",,"xnba","192.168.72.10"', '"cn2",,"xnba","sn01"')
    findings = {what: (level, fix) for level, what, fix in xcat_tables.check(config)}
    assert findings["noderes.tftpserver names neither the VIP nor a host of the pair for cn2=sn01 (a service "
                    "node?)"] == ("warn", "if not a service node: chtab node=cn2 noderes.tftpserver=192.168.72.10")


def test_a_missing_policy_row_gets_a_free_priority(runner, config):
    runner.expect(*reads())
    edit_dump(runner, "policy", '"1.2","xcatmn",,,,,,"trusted",,\n', "")
    findings = {what: fix for _level, what, fix in xcat_tables.check(config)}
    assert findings["policy: the certificate name xcatmn, which both hosts present, is not in the policy table"] \
        == "chtab priority=1.21 policy.name=xcatmn policy.rule=trusted"


def test_on_the_passive_host_xcat_does_not_answer(runner, config):
    runner.expect(Call(["/opt/xcat/sbin/tabdump", "site"], rc=111, stderr=fixture("tabdump-passive.txt")))
    assert xcat_tables.check(config) == [
        (OK, "xCAT's tables not checked here: xCAT is not active on this host (tabdump: Connection failure: "
             "IO::Socket::INET: connect: Connection refused at /opt/xcat/lib/perl/xCAT/Client.pm line 248.) "
             "(checked on the MN)", "")]


def test_setup_sets_what_it_owns_and_prints_the_rest(runner, config):
    def fixed_master(text):
        return text.replace('"master","192.168.72.12"', '"master","192.168.72.10"')
    runner.expect(*reads(drift=("site", "networks", "noderes", "policy")),
                  Call(["/opt/xcat/sbin/chtab", "key=master", "site.value=192.168.72.10"], env=XCAT_ENV),
                  Call(["/opt/xcat/sbin/chtab", "priority=1.2", "policy.name=xcatmn", "policy.rule=trusted"],
                       env=XCAT_ENV),
                  # the check after it: site.master and the policy row are right now
                  *reads(drift=("site", "networks", "noderes"), site=fixed_master))
    said = []
    xcat_tables.apply_owned(config, said.append)
    # recorded in the lab (apply_owned on the active host after the drift was seeded)
    assert said == [
        "  xCAT: chtab key=master site.value=192.168.72.10",
        "  xCAT: chtab priority=1.2 policy.name=xcatmn policy.rule=trusted",
        "  xCAT: site.nameservers is 192.168.72.11,8.8.8.8: the nodes must ask the VIP 192.168.72.10 (makedns "
        "serves it there); to fix it: chtab key=nameservers site.value=192.168.72.10,8.8.8.8",
        "  xCAT: networks.tftpserver of 192_168_72_0-255_255_255_0 is host2, host2's own address or name, not the "
        "VIP; to fix it: chtab netname=192_168_72_0-255_255_255_0 networks.tftpserver=192.168.72.10",
        "  xCAT: noderes.xcatmaster of cn2 is 192.168.72.11, host1's own address or name, not the VIP; to fix it: "
        "chtab node=cn2 noderes.xcatmaster=192.168.72.10"]
