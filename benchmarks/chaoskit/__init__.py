"""The parts of the chaos run (benchmarks/chaos.py): a local cluster, faults, the workload, the observer, the checks."""
