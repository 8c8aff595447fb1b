"""Fixtures of the agent tests (see support.py)."""
import pytest

from .support import AgentLab


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
