"""Generators: pure, seeded schedules of operations, and the interpreter that runs them."""
