"""The WebSocket feed: Kafka -> hub -> clients, with the protocol and resume logic free of I/O."""
