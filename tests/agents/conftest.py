"""Fixtures of the agent tests (see support.py)."""
import pytest

from .support import AgentLab


def engine_of(item):
    """Which database engine a test's node is set up with (setting one up takes minutes)."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    if params.get("server") == "mysql" or "maria" in item.fixturenames:
        return "mysql"
    return "sqlite" if "lite" in item.fixturenames else "postgresql"


def pytest_collection_modifyitems(items):
    """The tests of one engine together, PostgreSQL's (most of them) last: each engine is set up once."""
    order = {"mysql": 0, "sqlite": 1, "postgresql": 2}
    items.sort(key=lambda item: order[engine_of(item)])


@pytest.fixture(scope="package")
def agent_lab():
    lab = AgentLab()
    yield lab
    lab.lab.down()


@pytest.fixture
def pg(agent_lab):
    agent_lab.provision("postgresql")
    agent_lab.stop_all()
    yield agent_lab
    agent_lab.stop_all()


@pytest.fixture
def maria(agent_lab):
    agent_lab.provision("mysql")
    agent_lab.stop_all()
    yield agent_lab
    agent_lab.stop_all()


@pytest.fixture
def lite(agent_lab):
    agent_lab.provision("sqlite")
    agent_lab.stop_all()
    yield agent_lab
    agent_lab.stop_all()
