"""Assistance: procedure catalogue and requests (built by the assistance issue)."""
