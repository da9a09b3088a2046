"""The local stack: real Kafka, a DynamoDB-API server and an S3 server, started natively.

`sportsflow stack up | down | status`. Everything binds to loopback and lives under
`settings.stack.home` (default `.stack/`): jars, data, logs and pid files.
"""
