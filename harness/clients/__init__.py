"""Wire clients: how the harness talks to each system's nodes."""
