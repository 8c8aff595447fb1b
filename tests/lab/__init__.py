"""xcatha test lab: two systemd-nspawn "management nodes" booting the host's
OS under real systemd, a client, virtual BMCs for fencing, and Pacemaker.

    from lab import Lab, LabConfig
    lab = Lab(LabConfig(binds=[("/work/main/tests/xcat_standin", "/opt/xcat", True)]))
    lab.up(nodes=("host1", "host2"), cluster=True, bmcs=True)
    lab.node("host1").exec(["pcs", "status"])
    lab.down()

CLI: python -m lab --help  (needs root; PYTHONPATH=<repo>/tests)
"""

from .config import LabConfig
from .lab import Lab
from .node import Node
from .util import LabError

__all__ = ["Lab", "LabConfig", "LabError", "Node"]
