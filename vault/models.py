"""Vault: encrypted documents (built by the vault issue)."""
