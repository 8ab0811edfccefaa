"""The vault's pages, one module per area (documents, activation, sharing, grants...).

Every customer page of the vault is decorated with :func:`vault_view`: login
required, and the vault information accepted in its current version (else a redirect
to /coffre/activer/). URLs are in vault/urls.py, mounted at /coffre/.
"""

from __future__ import annotations

from .access import vault_view

__all__ = ["vault_view"]
