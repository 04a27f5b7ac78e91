"""The host's model gateway."""
