"""Cluster tests: two nodes, a real cluster with fencing (fence_ipmilan against virtual BMCs)."""
import pytest

from lab import pair


@pytest.fixture(scope="package")
def cluster():
    lab = pair.new_lab()
    pair.build(lab)
    yield lab
    lab.down()


@pytest.fixture
def healthy(cluster):
    """The group running on one node, both nodes online, no failures recorded."""
    pair.wait_healthy(cluster)
    return cluster
