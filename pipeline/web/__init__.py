"""Network front ends: the WebSocket broadcaster and the REST API."""
