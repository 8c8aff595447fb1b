"""Labs next to the default one (xha, used by the cluster tests and make demo): the fault
injector and the bench run in these, each with its own prefix, network and work dir.

Like every lab, each installs the checkout it runs from into its own work dir
(lab/install.py), so a `make install` during a long run changes nothing under it.
"""
import os

from lab import pair
from lab.config import LabConfig


def new_lab(prefix, net, workdir, **settings):
    """A named lab (the fault run's, the bench's); XCATHA_<PREFIX>_PREFIX/_NET/_WORKDIR
    move it aside, e.g. XCATHA_XHF_NET for the fault lab, so two checkouts can run it."""
    env = "XCATHA_%s_" % prefix.upper()
    return pair.prepare(LabConfig(prefix=os.environ.get(env + "PREFIX", prefix),
                                  net=os.environ.get(env + "NET", net),
                                  workdir=os.environ.get(env + "WORKDIR", workdir), **settings))


def build(lab, engine="postgresql", keep=True):
    """From nothing to group xcatmn running, on xCAT's database in `engine` (keep: pair.build's)."""
    lab.down()
    pair.build(lab, engine, keep)


def reusable(lab, group_running=True, engine="postgresql"):
    """True when this lab is up with both nodes online (and the group started, if asked),
    its xCAT on `engine`."""
    try:
        return (all(lab.node(name).running for name in lab.cfg.node_names)
                and pair.engine_of(lab) == engine
                and sorted(pair.online(lab)) == sorted(lab.cfg.node_names)
                and (not group_running or bool(pair.active_node(lab))))
    except Exception:  # noqa: BLE001 - any doubt means: build it again
        return False
