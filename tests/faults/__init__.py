"""Seeded fault injection on the lab pair, in the spirit of Pacemaker's CTS lab.

    PYTHONPATH=tests python -m faults --count 30 [--seed S] [--engine postgresql|mysql|sqlite]

Builds its own lab (prefix xhf, 192.168.75.0/24, /var/lib/xcatha-lab-faults)
with the whole group running, injects faults drawn from random.Random(seed)
while background threads check the invariants, measures each recovery and
writes a report.  The last line printed is one JSON object; the exit status is
non-zero on an invariant violation or an unrecovered fault.  xCAT's database is
the engine asked for (its own snapshot of the built pair each); a plan with a
storage kind puts the shared data on lab/storage.py's failing storage.

Modules: cluster (reading the cluster's state), invariants (the background
checks), kinds (the faults: how each is injected, noticed and healed), runner
(the lab, on a frozen copy of the installed agents (lab.frozen), the run and
its report).
"""
