"""make bench: our group against xCAT's stock Pacemaker recipe, on the two-node lab.

    PYTHONPATH=tests:. python -m bench [--trials 5] [--window 120] ...

Measures in one run, for both groups in turn in the same cluster: crash failover
(phases and first answers), planned move, each agent's cost against its stock
counterpart, and the CPU the group's monitoring costs per hour.  Writes
bench/results/latest.json, latest.md and latest-timeline.png; the last line
printed is one JSON object with the headline numbers.
"""
