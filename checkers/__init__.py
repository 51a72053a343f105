"""Checkers: pure functions of a history (STYLE.md 6, 7)."""
