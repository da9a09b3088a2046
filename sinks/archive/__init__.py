"""The S3 archive: gzip JSON Lines objects named by offset range, and reading them back."""
