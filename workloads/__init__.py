"""Workloads: generator of operations, client calls, and checker, one module each."""
