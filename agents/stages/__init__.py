"""The worker's pure stages: bytes in, records out, no I/O (tested without Kafka)."""
