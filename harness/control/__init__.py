"""Remotes: how a command reaches a node (docker exec or SSH)."""
