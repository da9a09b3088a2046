"""Provider connectors: one module per provider, found by discovery (see `connectors.registry`)."""
