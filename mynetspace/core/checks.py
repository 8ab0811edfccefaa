"""System checks for missing production requirements (see docs/deploy.md)."""
