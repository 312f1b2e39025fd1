"""Home Assistant: MQTT discovery payloads (and their removal)."""
