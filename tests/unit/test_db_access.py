"""The database must admit the VIP and both hosts: what pgsqlsetup writes, read back."""
from xcatha import db

# pg_hba.conf as pgsqlsetup -i -N -a 192.168.77.11 -a 192.168.77.12 left it in the lab (PostgreSQL 15)
HBA = """local   all             postgres                                peer
local   all             all                                     peer
host    all          all        192.168.77.11/32      md5
 host    all          all        192.168.77.12/32      md5
 host    all          all        192.168.77.10/32      md5
host    all             all             127.0.0.1/32            scram-sha-256
"""


def test_pg_hba_admits_exact_addresses_and_networks():
    for address in ("192.168.77.10", "192.168.77.11", "192.168.77.12", "127.0.0.1"):
        assert db.pg_hba_admits(HBA, address)
    assert not db.pg_hba_admits(HBA, "192.168.77.13")
    assert db.pg_hba_admits("host xcatdb xcatadm 192.168.77.0 255.255.255.0 md5\n", "192.168.77.13")
    assert not db.pg_hba_admits("host otherdb all 192.168.77.0/24 md5\n", "192.168.77.13")
    assert not db.pg_hba_admits("# host all all 0.0.0.0/0 md5\nlocal all all peer\n", "192.168.77.13")


def test_listen_addresses_the_last_setting_wins():
    conf = "#listen_addresses = 'localhost'\nlisten_addresses = 'localhost,192.168.77.10'\n"
    assert db.listen_addresses([conf]) == ["localhost", "192.168.77.10"]
    assert db.listen_addresses([conf, "listen_addresses = '*'\n"]) == ["*"]
    assert db.listen_addresses(["port = 5432\n"]) == ["localhost"]


def test_access_problems_name_each_missing_address_with_its_fix(tmp_path):
    config, data = tmp_path / "etc", tmp_path / "data"
    config.mkdir()
    data.mkdir()
    (config / "pg_hba.conf").write_text(HBA)
    (config / "postgresql.conf").write_text("listen_addresses = 'localhost,192.168.77.10'\n")
    hosts = ["192.168.77.11", "192.168.77.12"]
    assert db.access_problems("postgresql", "192.168.77.10", hosts, str(config), str(data)) == []
    problems = db.access_problems("postgresql", "192.168.77.10", ["192.168.77.11", "192.168.77.14"],
                                  str(config), str(data))
    assert problems == ["pg_hba.conf does not admit 192.168.77.14 (pgsqlsetup -i -a 192.168.77.14, or add "
                        "'host all all 192.168.77.14/32 md5')"]
    (config / "postgresql.conf").write_text("listen_addresses = 'localhost'\n")
    assert db.access_problems("postgresql", "192.168.77.10", hosts, str(config), str(data)) == [
        "PostgreSQL listens on localhost, not on the VIP 192.168.77.10 (listen_addresses)"]
    (data / "postgresql.auto.conf").write_text("listen_addresses = '*'\n")  # ALTER SYSTEM overrides
    assert db.access_problems("postgresql", "192.168.77.10", hosts, str(config), str(data)) == []
    assert db.access_problems("postgresql", "192.168.77.10", hosts, str(tmp_path / "none"), str(data))[0] \
        .startswith("cannot read")
