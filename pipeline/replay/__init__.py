"""Replay and backfill: raw records from Kafka or the S3 archive through today's stages."""
