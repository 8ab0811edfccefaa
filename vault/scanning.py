"""Malware scanning of vault documents with clamd.

The upload pipeline and the rescan task hand :func:`scan` the plaintext of a document
as an iterable of chunks (decrypted on the fly: nothing is written to disk and memory
does not grow with the file). The chunks go to clamd through the maintained
``clamav-client`` package, over TCP or a Unix socket (``CLAMD_URL``), with the
``INSTREAM`` command. The answer is a :class:`ScanResult` whose :class:`Verdict`
drives the document's scan status:

``CLEAN``        clamd found nothing: the document becomes downloadable.
``INFECTED``     clamd matched a signature (``result.signature``): refuse, destroy.
``REFUSED``      the scanner could not vouch for the file: larger than the scan
                 limit (ours, ``VAULT_SCAN_MAX_BYTES``, or clamd's ``StreamMaxLength``),
                 beyond clamd's scan limits (``Heuristics.Limits.Exceeded`` with
                 ``AlertExceedsMax yes``), or any other clamd error. Never clean.
``UNAVAILABLE``  clamd could not be reached or did not answer in time: the document
                 stays ``pending_scan`` and is scanned again later.
``UNSCANNED``    no scanner is configured (the embedded default): the document is
                 marked "not scanned"; ``check --deploy`` refuses this in production.

Design notes are in docs/scanning.md.
"""

from __future__ import annotations

import enum
import logging
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote, urlsplit

from clamav_client.clamd import (
    ClamdError,
    ClamdNetworkSocket,
    ClamdUnixSocket,
    CommunicationError,
)
from django.conf import settings
from django.utils.translation import gettext as _

from mynetspace.core.errors import DomainError

logger = logging.getLogger(__name__)

#: Bytes per INSTREAM frame. clamd requires each frame to be smaller than its
#: StreamMaxLength; larger frames than the client's default 1 KiB cost fewer calls.
FRAME_BYTES = 64 * 1024

#: Signature prefix clamd reports, with AlertExceedsMax, for what it could not scan.
LIMITS_EXCEEDED = "Heuristics.Limits.Exceeded"


class Verdict(enum.StrEnum):
    CLEAN = "clean"
    INFECTED = "infected"
    REFUSED = "refused"
    UNAVAILABLE = "unavailable"
    UNSCANNED = "unscanned"


@dataclass(frozen=True)
class ScanResult:
    verdict: Verdict
    #: The signature clamd matched (INFECTED), or the limit it hit (REFUSED).
    signature: str = ""
    #: A short explanation for operators and logs; never shown to customers.
    detail: str = ""
    #: Plaintext bytes sent to the scanner.
    scanned_bytes: int = 0

    @property
    def is_clean(self) -> bool:
        return self.verdict is Verdict.CLEAN

    def error(self) -> DomainError | None:
        """The refusal to show the customer, for INFECTED and REFUSED; else ``None``."""
        if self.verdict is Verdict.INFECTED:
            return DomainError(
                _(
                    "L'antivirus a détecté un logiciel malveillant dans ce fichier "
                    "(%(signature)s). Il a été refusé et détruit."
                )
                % {"signature": self.signature},
                code="vault.infected",
            )
        if self.verdict is Verdict.REFUSED:
            return DomainError(
                _(
                    "L'antivirus n'a pas pu analyser ce fichier en entier (trop volumineux "
                    "ou trop complexe) : par prudence, il a été refusé."
                ),
                code="vault.scan_refused",
            )
        return None


class ScannerUnavailable(Exception):
    """The scanner could not be reached or did not answer in time."""


class Scanner(Protocol):
    def scan(self, chunks: Iterable[bytes]) -> ScanResult: ...

    def ping(self) -> str: ...


# --- clamd ------------------------------------------------------------------------------------


class _InstreamMixin:
    """INSTREAM from an iterable of chunks, on top of the client's connection handling.

    The client's own ``instream`` reads a file object in 1 KiB frames and, when
    clamd closes the connection on a stream over its limit, loses clamd's answer in
    a broken pipe. Here the frames are larger, our own limit stops the stream before
    clamd's, and after a failed send the answer clamd already wrote is still read.
    """

    def instream_chunks(self, chunks: Iterable[bytes], *, max_bytes: int) -> ScanResult:
        try:
            self._init_socket()
        except ClamdError as exc:
            return ScanResult(Verdict.UNAVAILABLE, detail=str(exc))
        try:
            sent, send_failed = 0, None
            try:
                self._send_command("INSTREAM")
            except OSError as exc:
                send_failed = exc
            # Errors of the source (storage, decryption) are not scan results: they
            # propagate. Only the sends to clamd are caught.
            frames = _frames(chunks) if send_failed is None else ()
            for frame in frames:
                if sent + len(frame) > max_bytes:
                    return ScanResult(
                        Verdict.REFUSED,
                        detail=f"larger than the scan limit of {max_bytes} bytes",
                        scanned_bytes=sent,
                    )
                try:
                    self.clamd_socket.sendall(struct.pack("!L", len(frame)) + frame)
                except OSError as exc:  # clamd closed the connection, or a timeout
                    send_failed = exc
                    break
                sent += len(frame)
            else:
                try:
                    self.clamd_socket.sendall(struct.pack("!L", 0))
                except OSError as exc:
                    send_failed = exc
            try:
                answer = self._recv_response()
            except ClamdError as exc:
                detail = f"{send_failed or exc}"
                return ScanResult(Verdict.UNAVAILABLE, detail=detail, scanned_bytes=sent)
            return _interpret(answer, sent=sent, send_failed=send_failed)
        finally:
            self._close_socket()


def _frames(chunks: Iterable[bytes]):
    for chunk in chunks:
        for start in range(0, len(chunk), FRAME_BYTES):
            yield chunk[start : start + FRAME_BYTES]


class ClamdTcpClient(_InstreamMixin, ClamdNetworkSocket):
    """clamd over TCP, with a connect timeout distinct from the read timeout."""

    def __init__(self, host: str, port: int, *, connect_timeout: float, timeout: float) -> None:
        super().__init__(host=host, port=port, timeout=timeout)
        self.connect_timeout = connect_timeout

    def _init_socket(self) -> None:
        try:
            self.clamd_socket = socket.create_connection(
                (self.host, self.port), timeout=self.connect_timeout
            )
            self.clamd_socket.settimeout(self.timeout)
        except OSError as err:
            raise CommunicationError(self._error_message(err)) from err


class ClamdUnixClient(_InstreamMixin, ClamdUnixSocket):
    """clamd over a Unix socket; the client connects without a timeout, we do not."""

    def __init__(self, path: str, *, connect_timeout: float, timeout: float) -> None:
        super().__init__(path=path, timeout=timeout)
        self.connect_timeout = connect_timeout

    def _init_socket(self) -> None:
        try:
            self.clamd_socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.clamd_socket.settimeout(self.connect_timeout)
            self.clamd_socket.connect(self.unix_socket)
            self.clamd_socket.settimeout(self.timeout)
        except OSError as err:
            raise CommunicationError(self._error_message(err)) from err


def _interpret(answer: str, *, sent: int, send_failed: OSError | None) -> ScanResult:
    if not answer:
        return ScanResult(
            Verdict.UNAVAILABLE,
            detail=f"no answer from clamd ({send_failed or 'connection closed'})",
            scanned_bytes=sent,
        )
    if answer.endswith("ERROR"):
        # "INSTREAM size limit exceeded. ERROR", or an error clamd met while scanning:
        # the file was not fully scanned, so it cannot be called clean.
        return ScanResult(Verdict.REFUSED, detail=answer, scanned_bytes=sent)
    if answer.endswith(" FOUND"):
        signature = answer.removesuffix(" FOUND").split(": ", 1)[-1].strip()
        if signature.startswith(LIMITS_EXCEEDED):
            return ScanResult(
                Verdict.REFUSED, signature=signature, detail=answer, scanned_bytes=sent
            )
        return ScanResult(Verdict.INFECTED, signature=signature, detail=answer, scanned_bytes=sent)
    if answer.endswith(" OK") and send_failed is None:
        return ScanResult(Verdict.CLEAN, detail=answer, scanned_bytes=sent)
    # An OK for a stream we could not finish sending, or an answer we do not know.
    return ScanResult(
        Verdict.UNAVAILABLE, detail=f"unexpected answer: {answer}", scanned_bytes=sent
    )


@dataclass(frozen=True)
class ClamdAddress:
    scheme: str  # "tcp" or "unix"
    host: str = ""
    port: int = 0
    path: str = ""

    def __str__(self) -> str:
        if self.scheme == "unix":
            return f"unix://{self.path}"
        return f"tcp://{self.host}:{self.port}"


def parse_clamd_url(url: str) -> ClamdAddress:
    """``tcp://host:port`` (port 3310 by default) or ``unix:///path/to/clamd.ctl``.

    Raises ``ValueError`` for anything else.
    """
    parts = urlsplit(url.strip())
    if parts.scheme == "tcp":
        if not parts.hostname:
            raise ValueError("a tcp:// clamd address needs a host")
        return ClamdAddress("tcp", host=parts.hostname, port=parts.port or 3310)
    if parts.scheme == "unix":
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise ValueError("a unix:// clamd address needs an absolute path")
        return ClamdAddress("unix", path=path)
    raise ValueError("the clamd address must start with tcp:// or unix://")


class ClamdScanner:
    """A :class:`Scanner` talking to one clamd."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float,
        timeout: float,
        max_bytes: int,
    ) -> None:
        self.address = parse_clamd_url(url)
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.max_bytes = max_bytes

    def __repr__(self) -> str:
        return f"<ClamdScanner {self.address}>"

    def _client(self, *, timeout: float | None = None):
        timeout = self.timeout if timeout is None else timeout
        if self.address.scheme == "unix":
            return ClamdUnixClient(
                self.address.path, connect_timeout=self.connect_timeout, timeout=timeout
            )
        return ClamdTcpClient(
            self.address.host,
            self.address.port,
            connect_timeout=self.connect_timeout,
            timeout=timeout,
        )

    def scan(self, chunks: Iterable[bytes]) -> ScanResult:
        result = self._client().instream_chunks(chunks, max_bytes=self.max_bytes)
        log = logger.warning if result.verdict is not Verdict.CLEAN else logger.debug
        log("clamd scan: %s %s (%s bytes)", result.verdict, result.detail, result.scanned_bytes)
        return result

    def ping(self) -> str:
        """``"PONG"``, or :class:`ScannerUnavailable` within the connect timeout."""
        try:
            answer = self._client(timeout=self.connect_timeout).ping()
        except (ClamdError, OSError) as exc:
            raise ScannerUnavailable(str(exc)) from exc
        if answer != "PONG":
            raise ScannerUnavailable(f"unexpected answer to PING: {answer!r}")
        return answer

    def version(self) -> str:
        """clamd's version and signature database, e.g. ``ClamAV 1.4.6/27000/...``."""
        try:
            return self._client(timeout=self.connect_timeout).version()
        except (ClamdError, OSError) as exc:
            raise ScannerUnavailable(str(exc)) from exc


# --- From the settings ------------------------------------------------------------------------


def scanner_configured() -> bool:
    """Whether a scanner is configured (``CLAMD_URL``); without one, nothing is scanned."""
    return bool(settings.CLAMD_URL.strip())


def get_scanner() -> ClamdScanner | None:
    """The configured scanner, or ``None``. Raises ``ValueError`` for a malformed URL."""
    if not scanner_configured():
        return None
    return ClamdScanner(
        settings.CLAMD_URL,
        connect_timeout=settings.CLAMD_CONNECT_TIMEOUT,
        timeout=settings.CLAMD_TIMEOUT,
        max_bytes=settings.VAULT_SCAN_MAX_BYTES,
    )


def scan(chunks: Iterable[bytes]) -> ScanResult:
    """Scan a document's plaintext chunks with the configured scanner.

    ``UNSCANNED`` without a scanner (the chunks are not read); ``UNAVAILABLE`` when
    ``CLAMD_URL`` is malformed, so that documents wait rather than pass.
    """
    try:
        scanner = get_scanner()
    except ValueError as exc:
        logger.error("CLAMD_URL is malformed: %s", exc)
        return ScanResult(Verdict.UNAVAILABLE, detail=f"CLAMD_URL is malformed: {exc}")
    if scanner is None:
        return ScanResult(Verdict.UNSCANNED, detail="no scanner configured")
    return scanner.scan(chunks)
