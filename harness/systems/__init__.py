"""Systems under test: the System protocol, its optional abilities, and adapters."""
