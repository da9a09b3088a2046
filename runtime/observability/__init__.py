"""Logs, metrics (Prometheus and CloudWatch EMF), Sentry and the secret scrubber."""
