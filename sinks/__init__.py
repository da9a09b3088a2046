"""Canonical records out: DynamoDB, the S3 archive, the WebSocket feed and the REST API."""
