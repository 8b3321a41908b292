"""Marshmallow schemas for the wire formats (declaration payload, API bodies, bus messages); no IO here."""
