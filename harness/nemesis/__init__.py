"""Nemeses: one small class per fault kind, packages that compose them."""
