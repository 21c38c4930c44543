"""Presentation-attack detection (liveness) on the server."""
