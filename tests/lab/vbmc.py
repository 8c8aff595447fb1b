"""Virtual BMC for one lab node: IPMI 2.0 (RMCP+, cipher suite 3) through
pyghmi, so `fence_ipmilan --lanplus` and `ipmitool -I lanplus` can power the
node off and on.

Runs on the host (it must outlive the node), in the node's BMC network
namespace:  python -m lab.vbmc --config WORKDIR/lab.json --node host1
Started and stopped by Lab.start_bmcs() / Lab.stop_bmcs().

Power semantics, like a real box: "off" is a power cut (Node.crash); "on"
switches power on at once (status reports on) and the OS boots after
`bmc_boot_delay` seconds (firmware/POST time).  The delay also keeps a fenced
node from rejoining before the fencing result reached the survivor, which
makes Pacemaker stop it with "We were allegedly just fenced".

A box that died of a hardware fault stays off whatever it is told: while the
file `<node dir>/dead` (Node.dead_flag) exists, "on" does nothing (status stays off), and
fence_ipmilan's reboot still counts as done (the power-off it verifies did
happen), as with a real dead board.
"""

import argparse
import signal
import sys
import threading
import time

import pyghmi.ipmi.bmc as pyghmi_bmc

from .config import LabConfig
from .node import Node
from .util import LabError, log, setup_logging


class NodeBmc(pyghmi_bmc.Bmc):
    def __init__(self, node: Node, user: str, password: str, address: str, port: int,
                 boot_delay: float):
        super().__init__({user: password}, port=port, address=address)
        self.node = node
        self.boot_delay = boot_delay
        self._lock = threading.Lock()
        self._generation = 0        # bumped by every power off: cancels a pending boot
        self._power_on_pending = False

    # --- what IPMI asks -------------------------------------------------------
    def get_power_state(self):
        on = self.node.nspawn_pid is not None or self._power_on_pending
        return "on" if on else "off"

    def is_active(self):
        return self.get_power_state() == "on"

    def power_off(self):
        log.info("vbmc %s: power off", self.node.name)
        with self._lock:
            self._generation += 1
            self._power_on_pending = False
        self.node.crash()

    def power_on(self):
        if self.node.dead_flag.exists():
            log.info("vbmc %s: power on: the box is dead, nothing happens", self.node.name)
            return
        if self.get_power_state() == "on":
            log.info("vbmc %s: power on: already on", self.node.name)
            return
        log.info("vbmc %s: power on, OS boots in %.1f s", self.node.name, self.boot_delay)
        with self._lock:
            self._power_on_pending = True
            generation = self._generation
        threading.Thread(target=self._boot_later, args=(generation,), daemon=True).start()

    def power_reset(self):
        self.power_off()
        self.power_on()

    power_cycle = power_reset

    def power_shutdown(self):
        log.info("vbmc %s: soft power off", self.node.name)
        threading.Thread(target=self.node.poweroff, daemon=True).start()

    # --- the delayed boot -----------------------------------------------------
    def _boot_later(self, generation: int) -> None:
        time.sleep(self.boot_delay)
        with self._lock:
            cancelled = generation != self._generation
        try:
            if not cancelled:
                self.node.boot(wait=False)
        except Exception:              # keep the BMC serving whatever happens
            log.exception("vbmc %s: boot failed", self.node.name)
        finally:
            with self._lock:
                if generation == self._generation:
                    self._power_on_pending = False
        if cancelled:
            log.info("vbmc %s: pending boot cancelled by power off", self.node.name)
            return
        try:
            self.node.wait_booted(starting=True)
        except LabError as err:
            log.info("vbmc %s: boot did not complete: %s", self.node.name, str(err).splitlines()[0])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.vbmc", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True, help="lab.json written by Lab.up()")
    ap.add_argument("--node", required=True)
    args = ap.parse_args(argv)
    cfg = LabConfig.load(args.config)
    setup_logging(cfg.log_path, name="vbmc-" + args.node)
    node = Node(cfg, args.node)
    bmc = NodeBmc(node, cfg.bmc_user, cfg.bmc_password, cfg.bmc_ip(args.node), cfg.bmc_port,
                  cfg.bmc_boot_delay)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log.info("vbmc %s: listening on %s:%d (node %s)", node.name, cfg.bmc_ip(node.name),
             cfg.bmc_port, bmc.get_power_state())
    bmc.listen()
    return 0


if __name__ == "__main__":
    sys.exit(main())
