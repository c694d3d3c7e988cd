"""Benchmarks: `casebook bench <name>` runs `bench/<name>.py` (ARCHITECTURE §9).

Each benchmark starts the servers it measures on free loopback ports, drives them with `wrk`, and
prints its figures next to a peer or physical limit measured side by side in the same run. Results
are saved under `bench/results/` with the machine and commit they were measured on.
"""
