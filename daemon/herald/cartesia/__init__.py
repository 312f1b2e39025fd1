"""Talking to Cartesia: the persistent WebSocket client and the REST calls."""
