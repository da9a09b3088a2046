"""The REST API of the original engine: POST /ingest, GET /events, GET /events/{id}, GET /health."""
