"""Receiving an upload straight into the encrypting pipeline.

Django parses a multipart body by *pushing* each piece of a file to its upload
handlers (``receive_data_chunk``); the vault pipeline (:func:`vault.services.document_receive`)
*pulls* plaintext from an iterator while it encrypts and stores. Neither of Django's
own handlers fits: ``TemporaryFileUploadHandler`` writes the plaintext to a file on
disk, ``MemoryFileUploadHandler`` holds the whole file in memory.

So the request body is parsed in a helper thread whose handler
(:class:`VaultUploadHandler`) puts each 256 KiB piece into a small bounded queue
(:class:`UploadStream`), while the request's own thread reads that queue as the
iterator of chunks the pipeline consumes. The parser waits when the pipeline is
behind (the queue holds at most ``MAX_PENDING`` pieces of 256 KiB: 2 MiB), so:

- the plaintext is never written to disk (no temporary file);
- memory holds a few pieces in the queue, Django's read buffer and the pipeline's
  records: it does not grow with the file (measured in benchmarks/bench_vault.py);
- the database, the keys and the translations stay in the request's thread: the
  helper thread only reads the socket.

When the pipeline refuses the file (wrong type, too large...), the stream is
aborted: the handler raises ``StopUpload`` and Django reads the rest of the body
without keeping it, so the customer gets the page with the error message.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.utils.translation import gettext as _

from mynetspace.core.errors import DomainError

#: Pieces of the file waiting between the parser and the pipeline (256 KiB each: larger
#: pieces than Django's 64 KiB default halve the parser's cost; 1 MiB gained nothing).
MAX_PENDING = 8
#: Seconds the pipeline waits for the next piece before giving up on the client.
CLIENT_TIMEOUT = 120.0
#: How often a blocked producer checks whether the consumer gave up.
_POLL = 0.5

_END = object()


class UploadInterrupted(DomainError):
    def __init__(self) -> None:
        super().__init__(
            _("L'envoi du fichier a été interrompu. Vérifiez votre connexion puis réessayez."),
            "vault.upload_interrupted",
        )


class UploadStream:
    """A bounded hand-off of one file's pieces from the parser thread to the pipeline."""

    def __init__(self, *, max_pending: int = MAX_PENDING, timeout: float = CLIENT_TIMEOUT):
        self._queue: queue.Queue = queue.Queue(maxsize=max_pending)
        self._aborted = threading.Event()
        self._decided = threading.Event()
        self._timeout = timeout
        self.filename: str | None = None
        self.received_bytes = 0
        self._ended = False
        self.parse_error: BaseException | None = None

    # --- producer side (parser thread) ------------------------------------------------

    def start_file(self, filename: str) -> None:
        self.filename = filename
        self._decided.set()

    def put(self, piece: bytes) -> None:
        while True:
            if self._aborted.is_set():
                # Django then reads the rest of the body without keeping it.
                raise StopUpload(connection_reset=False)
            try:
                self._queue.put(piece, timeout=_POLL)
                return
            except queue.Full:
                continue

    def end_file(self) -> None:
        self._ended = True
        self.put(_END)

    def parser_finished(self, error: BaseException | None) -> None:
        """Called once the body is parsed (or failed): wakes a consumer still waiting."""
        self.parse_error = error
        self._decided.set()
        if self.filename is None or self._ended:
            return
        # The body ended (or broke) in the middle of the file.
        item = error if error is not None else ConnectionError("the body ended mid-file")
        while not self._aborted.is_set():
            try:
                self._queue.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue

    # --- consumer side (request thread) -------------------------------------------------

    def wait_for_file(self) -> bool:
        """True once a file started, False if the body ended without one."""
        if not self._decided.wait(timeout=self._timeout):
            self.abort()
            raise UploadInterrupted()
        return self.filename is not None

    def chunks(self) -> Iterator[bytes]:
        while True:
            try:
                item = self._queue.get(timeout=self._timeout)
            except queue.Empty:
                self.abort()
                raise UploadInterrupted() from None
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise UploadInterrupted() from item
            yield item

    def abort(self) -> None:
        """The pipeline stops reading: let the parser skip the rest of the file."""
        self._aborted.set()
        # Free a producer blocked on a full queue.
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass


class VaultUploadHandler(FileUploadHandler):
    """Hands the pieces of the first file of ``field_name`` to an :class:`UploadStream`.

    Other files in the body are dropped; nothing is stored by the handler itself
    (``request.FILES`` stays empty: the view reads the stream).
    """

    chunk_size = 256 * 1024

    def __init__(self, request, stream: UploadStream, *, field_name: str = "file") -> None:
        super().__init__(request)
        self.stream = stream
        self.wanted_field = field_name
        self._active = False

    def new_file(self, field_name, file_name, *args, **kwargs) -> None:
        super().new_file(field_name, file_name, *args, **kwargs)
        self._active = field_name == self.wanted_field and self.stream.filename is None
        if self._active:
            self.stream.start_file(file_name or "")

    def receive_data_chunk(self, raw_data: bytes, start: int):
        if self._active and raw_data:
            self.stream.received_bytes += len(raw_data)
            self.stream.put(raw_data)
        return

    def file_complete(self, file_size: int):
        if self._active:
            self._active = False
            self.stream.end_file()
        return

    def upload_interrupted(self) -> None:
        self._active = False


def parse_in_thread(request, stream: UploadStream) -> threading.Thread:
    """Start parsing ``request``'s body (``request.POST``) in a helper thread."""

    def run() -> None:
        error = None
        try:
            request.POST  # noqa: B018 - parsing feeds the handler
        except StopUpload:
            pass
        except BaseException as exc:  # handed to the request thread
            error = exc
        stream.parser_finished(error)

    thread = threading.Thread(target=run, name="vault-upload-parser", daemon=True)
    thread.start()
    return thread
