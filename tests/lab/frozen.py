"""Labs next to the default one (xha, used by the cluster tests and make demo): the fault
injector and the bench run in these, each with its own prefix, network and work dir.

Like every lab, each installs the checkout it runs from into its own work dir
(lab/install.py), so a `make install` during a long run changes nothing under it.
"""
from lab import pair
from lab.config import LabConfig
from lab.lab import Lab


def new_lab(prefix, net, workdir, **settings):
    cfg = LabConfig(prefix=prefix, net=net, workdir=workdir, **settings)
    cfg.binds = pair.xcat_binds()
    return Lab(cfg)


def build(lab):
    """From nothing to group xcatmn running."""
    lab.down()
    pair.build(lab)


def reusable(lab, group_running=True):
    """True when this lab is up with both nodes online (and the group started, if asked)."""
    try:
        return (all(lab.node(name).running for name in lab.cfg.node_names)
                and sorted(pair.online(lab)) == sorted(lab.cfg.node_names)
                and (not group_running or bool(pair.active_node(lab))))
    except Exception:  # noqa: BLE001 - any doubt means: build it again
        return False
