"""The one error hierarchy of MyNetSpace.

Services raise a ``DomainError`` (or a subclass where a caller must branch) with a
translatable message for people and a stable ``code`` for programs and tests.
Views turn it into a form error or a message; they never show a traceback.
"""

from __future__ import annotations


class DomainError(Exception):
    """A business rule refused the operation."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return str(self.message)


class InvalidState(DomainError):
    """The object is not in a state that allows this transition."""


class NotAllowed(DomainError):
    """The acting user may not do this."""
