"""Vault benchmark, part 1: encryption and storage (``blob_write`` / ``blob_open``).

Measured in one run, on the local file storage of a private temporary directory
(SQLite for the user-key row; nothing else touches the database):

- for files of 1 MB, 50 MB and 200 MB: write then read through ``blob_write`` and
  ``blob_open`` (chunked AES-256-GCM, plaintext SHA-256 on write, every tag checked on
  read), beside the same bytes written and read through Django's storage API without
  encryption (the baseline). Best of ``ROUNDS`` runs each, the two alternated;
- the process's memory growth while the 200 MB file is written and read: peak traced
  Python allocations (tracemalloc, a separate pass) and peak RSS above the level at
  the start of the case (sampled every few milliseconds).

Aims: throughput >= 60% of the baseline's, and memory growth < 64 MB for 200 MB.
The rates of SHA-256 and AES-256-GCM alone are printed beside: the plaintext's digest
is computed on its own core, so the write ratio cannot exceed SHA-256's rate over the
plain write's, whatever the rest costs.

The upload pipeline (sniffing, scanning) extends this file with its own cases (part 2,
``pipeline_main``): through the upload and download views, beside the same baseline;
with clamd, also beside plain storage followed by the same clamd scan. Which aim
applies to which row is printed with the figures (and in docs/scanning.md).
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MB = 1_000_000
SIZES_MB = [int(s) for s in os.environ.get("BENCH_VAULT_SIZES_MB", "1,50,200").split(",")]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
PIECE = 64 * 1024  # what Django's upload handlers hand over
THROUGHPUT_AIM = 0.60
MEMORY_AIM_MB = 64

WORK_DIR = Path(tempfile.mkdtemp(prefix="bench-vault-"))
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "mynetspace.settings",
        "ENV_FILE": "",
        "VAR_DIR": str(WORK_DIR),
        "DATABASE_URL": f"sqlite:///{WORK_DIR / 'bench.sqlite3'}",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }
)
for name in ("S3_BUCKET", "VAULT_KMS_KEY_ID"):
    os.environ.pop(name, None)


def plaintext(size: int):
    """``size`` bytes of incompressible data in 64 KiB pieces, produced lazily."""
    block = os.urandom(4 * 1024 * 1024 + PIECE)
    sent = 0
    offset = 0
    while sent < size:
        count = min(PIECE, size - sent)
        yield block[offset : offset + count]
        offset = (offset + 8191) % (len(block) - PIECE)
        sent += count


class RssSampler:
    """Peak resident set size above the level at start, sampled in a thread."""

    def __init__(self) -> None:
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._stop = threading.Event()
        self.base = self._rss()
        self.peak = self.base

    def _rss(self) -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * self._page

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.002)

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def growth(self) -> int:
        return self.peak - self.base


def primitive_rates() -> tuple[float, float]:
    """MB/s of hashlib's SHA-256 and of AES-256-GCM alone, on 64 MiB in 256 KiB pieces."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    piece = os.urandom(256 * 1024)
    count = 256
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    rates = []
    for work in (
        lambda: [hashlib.sha256().update(piece) for _ in range(count)],
        lambda: [aead.encrypt(bytes(12), piece, b"") for _ in range(count)],
    ):
        best = float("inf")
        for _round in range(3):
            started = time.perf_counter()
            work()
            best = min(best, time.perf_counter() - started)
        rates.append(count * len(piece) / MB / best)
    return rates[0], rates[1]


def main() -> int:
    import django

    django.setup()
    from django.core.files.base import File
    from django.core.files.storage import storages
    from django.core.management import call_command

    from accounts.models import User
    from vault.blobs import blob_open, blob_write, vault_storage
    from vault.crypto import IteratorReader
    from vault.models import Document

    call_command("migrate", verbosity=0)
    owner = User.objects.create(email="bench@example.test")
    plain_storage = storages["default"]

    class PlainUpload(File):
        def __init__(self, pieces, name):
            self._pieces = pieces
            super().__init__(IteratorReader(pieces), name=name)

        def chunks(self, chunk_size=None):
            yield from self._pieces

    def baseline_write(size: int) -> str:
        name = f"bench/{os.urandom(8).hex()}.bin"
        return plain_storage.save(name, PlainUpload(plaintext(size), name))

    def baseline_read(name: str) -> int:
        total = 0
        with plain_storage.open(name, "rb") as stored:
            for chunk in stored.chunks(PIECE):
                total += len(chunk)
        plain_storage.delete(name)
        return total

    def vault_write(size: int) -> Document:
        info = blob_write(owner=owner, chunks=plaintext(size))
        return Document(
            uuid=info.document_uuid,
            owner=owner,
            title="bench",
            source="upload",
            content_type="application/octet-stream",
            **info.fields(),
        )

    def vault_read(document: Document) -> int:
        total = 0
        with blob_open(document=document) as stream:
            for chunk in stream:
                total += len(chunk)
        vault_storage().delete(document.storage_key)
        return total

    def timed(func, arg):
        started = time.perf_counter()
        result = func(arg)
        return time.perf_counter() - started, result

    vault_write(1000)  # warm-up: user key, imports, directories
    baseline_read(baseline_write(1000))

    print(f"Vault blobs on local files ({WORK_DIR}), best of {ROUNDS}; MB = 10^6 bytes")
    header = (
        f"{'size':>7} | {'plain write':>11} {'vault write':>11} {'ratio':>6} |"
        f" {'plain read':>10} {'vault read':>10} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    missed = []
    for size_mb in SIZES_MB:
        size = size_mb * MB
        best = {"pw": float("inf"), "vw": float("inf"), "pr": float("inf"), "vr": float("inf")}
        for _round in range(ROUNDS):
            seconds, name = timed(baseline_write, size)
            best["pw"] = min(best["pw"], seconds)
            seconds, read = timed(baseline_read, name)
            best["pr"] = min(best["pr"], seconds)
            assert read == size
            seconds, document = timed(vault_write, size)
            best["vw"] = min(best["vw"], seconds)
            seconds, read = timed(vault_read, document)
            best["vr"] = min(best["vr"], seconds)
            assert read == size
        rates = {key: size / MB / value for key, value in best.items()}
        write_ratio, read_ratio = rates["vw"] / rates["pw"], rates["vr"] / rates["pr"]
        print(
            f"{size_mb:>4} MB | {rates['pw']:>6.0f} MB/s {rates['vw']:>6.0f} MB/s"
            f" {write_ratio:>6.2f} | {rates['pr']:>5.0f} MB/s {rates['vr']:>5.0f} MB/s"
            f" {read_ratio:>6.2f}"
        )
        for label, ratio in (("write", write_ratio), ("read", read_ratio)):
            if ratio < THROUGHPUT_AIM:
                missed.append(f"{label} {size_mb} MB at {ratio:.2f}x the baseline")

    sha256_rate, aes_rate = primitive_rates()
    print(
        f"\nOn this machine, one core: SHA-256 {sha256_rate:.0f} MB/s, AES-256-GCM"
        f" {aes_rate:.0f} MB/s. Writing hashes the plaintext on a second core, beside"
        " encryption and storage: the write ratio cannot exceed SHA-256's rate over the"
        " plain write's."
    )

    largest = max(SIZES_MB) * MB
    with RssSampler() as rss:
        document = vault_write(largest)
        digest = hashlib.sha256()
        with blob_open(document=document) as stream:
            for chunk in stream:
                digest.update(chunk)
        assert digest.hexdigest() == document.sha256
        vault_storage().delete(document.storage_key)
    tracemalloc.start()
    document = vault_write(largest)
    vault_read(document)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        f"\nMemory while writing then reading {max(SIZES_MB)} MB through the vault:"
        f" RSS growth {rss.growth / 2**20:.1f} MiB, peak traced allocations"
        f" {traced_peak / 2**20:.2f} MiB (aim: < {MEMORY_AIM_MB} MB)"
    )
    if max(rss.growth, traced_peak) >= MEMORY_AIM_MB * 2**20:
        missed.append(f"memory growth {max(rss.growth, traced_peak) / 2**20:.1f} MiB")
    print(
        f"Aims: throughput >= {THROUGHPUT_AIM:.0%} of the baseline, memory < {MEMORY_AIM_MB} MB: "
        + ("all met" if not missed else "MISSED: " + "; ".join(missed))
    )
    return 0


# --- Part 2: the whole upload pipeline (vault.services, vault.uploads) -----------------------

#: A JPEG head: images get no deep check, so the pipeline's own costs are measured.
JPEG_HEAD = bytes.fromhex("ffd8ffe000104a46494600010100000100010000")
CLAMD_BENCH_URL = os.environ.get("BENCH_CLAMD_URL", "tcp://127.0.0.1:3310")


def jpeg_like(size: int):
    """``size`` bytes that sniff as JPEG, in 64 KiB pieces (as Django's parser hands them)."""
    yield JPEG_HEAD
    yield from plaintext(size - len(JPEG_HEAD))


class StreamedBody:
    """A multipart request body produced lazily, read by Django like a socket."""

    def __init__(self, fields: dict, filename: str, pieces, boundary: str) -> None:
        from vault.crypto import IteratorReader

        def parts():
            for name, value in fields.items():
                yield (
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                    f"{value}\r\n"
                ).encode()
            yield (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="{filename}"\r\nContent-Type: image/jpeg\r\n\r\n'
            ).encode()
            yield from pieces
            yield f"\r\n--{boundary}--\r\n".encode()

        self._reader = io.BufferedReader(IteratorReader(parts()), buffer_size=PIECE)

    def read(self, size=-1):
        return self._reader.read(size)

    def readline(self, size=-1):
        return self._reader.readline(size)


def pipeline_main() -> int:
    """Upload then download through the whole pipeline, beside plain storage, same run.

    Upload: the real upload view (``/coffre/deposer/``) fed a streamed multipart body
    through Django's WSGI handler (parser thread, bounded queue, type sniffing,
    SHA-256, encryption, storage, row and event, scan) and the scan when a scanner is
    configured; download: the real download view, streamed to the end. The baseline
    writes and reads the same bytes through Django's default storage.

    With clamd, a second baseline writes the same bytes to plain storage and scans
    the stored file with the same scanner: clamd scans far slower than storage
    writes, so against the first baseline the upload rows measure clamd; against the
    second, the encryption pipeline's own overhead, and the 60% aim applies there.
    Downloads never scan: their aim is against the first baseline in both cases.
    The time of a 1 kB upload and download (the per-request floor: the baseline
    makes no request) is printed before the table.
    """
    import django

    django.setup()
    from django.conf import settings
    from django.core.files.base import File
    from django.core.files.storage import storages
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command
    from django.test import Client

    from accounts.models import User
    from vault import scanning
    from vault.crypto import IteratorReader
    from vault.models import Document, ScanStatus
    from vault.views import access

    call_command("migrate", verbosity=0)
    settings.UPLOAD_MAX_BYTES = (max(SIZES_MB) + 5) * MB
    settings.VAULT_SCAN_MAX_BYTES = settings.UPLOAD_MAX_BYTES
    settings.VAULT_FREE_QUOTA_MB = 10 * max(SIZES_MB) * ROUNDS * 3
    settings.ALLOWED_HOSTS = ["*"]
    # The benchmark measures the pipeline, not the activation page (a published text).
    access.vault_activated = lambda user: True
    owner = User.objects.create(email="pipeline@example.test")
    client = Client()
    client.force_login(owner)
    session = client.session
    session["account_authentication_methods"] = [
        {"method": "password", "at": time.time() + 3600, "reauthenticated": True}
    ]
    session["account_authentication_methods_user"] = str(owner.pk)
    session.save()
    csrf_secret = "b" * 32
    cookie = (
        f"{settings.SESSION_COOKIE_NAME}={session.session_key};"
        f" {settings.CSRF_COOKIE_NAME}={csrf_secret}"
    )
    handler = WSGIHandler()
    plain_storage = storages["default"]

    class PlainUpload(File):
        def __init__(self, pieces, name):
            self._pieces = pieces
            super().__init__(IteratorReader(pieces), name=name)

        def chunks(self, chunk_size=None):
            yield from self._pieces

    def call(environ) -> tuple[str, dict, int]:
        status_headers = {}

        def start_response(status, headers, exc_info=None):
            status_headers["status"] = status
            status_headers["headers"] = dict(headers)

        result = handler(environ, start_response)
        total = 0
        try:
            for chunk in result:
                total += len(chunk)
        finally:
            if hasattr(result, "close"):
                result.close()
        return status_headers["status"], status_headers["headers"], total

    def base_environ(method: str, path: str) -> dict:
        return {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "SERVER_NAME": "bench.test",
            "SERVER_PORT": "443",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "bench.test",
            "HTTP_COOKIE": cookie,
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.url_scheme": "https",
            "HTTP_ORIGIN": "https://bench.test",
            "HTTP_REFERER": "https://bench.test/coffre/deposer/",
            "wsgi.errors": sys.stderr,
            "wsgi.input": io.BytesIO(b""),
        }

    def upload(size: int) -> Document:
        boundary = "bench-" + os.urandom(8).hex()
        fields = {"csrfmiddlewaretoken": csrf_secret, "title": "", "doc_type": ""}
        overhead = len(StreamedBody(fields, "photo.jpg", iter(()), boundary).read(-1))
        body = StreamedBody(fields, "photo.jpg", jpeg_like(size), boundary)
        environ = base_environ("POST", "/coffre/deposer/")
        environ.update(
            {
                "CONTENT_TYPE": f"multipart/form-data; boundary={boundary}",
                "CONTENT_LENGTH": str(size + overhead),
                "wsgi.input": body,
            }
        )
        status, _headers, _length = call(environ)
        if not status.startswith("302"):
            raise RuntimeError(f"upload answered {status}")
        return Document.objects.order_by("-pk").first()

    def download(document: Document) -> int:
        status, _headers, total = call(base_environ("GET", f"/coffre/{document.uuid}/telecharger/"))
        if not status.startswith("200"):
            raise RuntimeError(f"download answered {status} (scan: {document.scan_status})")
        return total

    def baseline(size: int) -> tuple[float, float]:
        name = f"bench/{os.urandom(8).hex()}.bin"
        started = time.perf_counter()
        name = plain_storage.save(name, PlainUpload(jpeg_like(size), name))
        written = time.perf_counter() - started
        started = time.perf_counter()
        with plain_storage.open(name, "rb") as stored:
            for _chunk in stored.chunks(PIECE):
                pass
        read = time.perf_counter() - started
        plain_storage.delete(name)
        return written, read

    def baseline_scanned(size: int) -> float:
        """Plain storage, then the same clamd scan of the stored file: no encryption."""
        name = f"bench/{os.urandom(8).hex()}.bin"
        started = time.perf_counter()
        name = plain_storage.save(name, PlainUpload(jpeg_like(size), name))
        with plain_storage.open(name, "rb") as stored:
            result = scanning.scan(stored.chunks(scanning.FRAME_BYTES))
        elapsed = time.perf_counter() - started
        plain_storage.delete(name)
        if not result.is_clean:
            raise RuntimeError(f"the baseline scan gave {result.verdict}: {result.detail}")
        return elapsed

    def pipeline(size: int) -> tuple[float, float, Document]:
        started = time.perf_counter()
        document = upload(size)
        document.refresh_from_db()
        uploaded = time.perf_counter() - started
        started = time.perf_counter()
        assert download(document) == size
        downloaded = time.perf_counter() - started
        Document.objects.filter(pk=document.pk).delete()
        from vault.blobs import vault_storage

        vault_storage().delete(document.storage_key)
        return uploaded, downloaded, document

    scanners = [("without scanner", "")]
    settings.CLAMD_URL = CLAMD_BENCH_URL
    try:
        scanning.get_scanner().ping()
        scanners.append((f"with clamd ({CLAMD_BENCH_URL})", CLAMD_BENCH_URL))
    except Exception as exc:
        print(f"clamd at {CLAMD_BENCH_URL} unreachable ({exc}): scanner case skipped")
    settings.CLAMD_URL = ""
    # Scans run in the request here (no broker: Celery eager), as in the embedded set-up.
    pipeline(1000)  # warm-up
    floor_up, floor_down = float("inf"), float("inf")
    for _round in range(3):
        uploaded, downloaded, _document = pipeline(1000)
        floor_up, floor_down = min(floor_up, uploaded), min(floor_down, downloaded)

    print(
        "\nUpload pipeline (view -> sniff -> SHA-256 -> encrypt -> store -> row, scan) then"
        f" download view, best of {ROUNDS}; baseline: Django's storage, no encryption"
    )
    print(
        f"A 1 kB document costs {floor_up * 1000:.0f} ms to upload and {floor_down * 1000:.0f} ms"
        " to download without a scanner (sessions, authentication, rows, audit events,"
        " SQLite here): the plain baseline makes no request, so this floor bounds the small"
        " rows."
    )
    header = (
        f"{'case':>28} {'size':>7} | {'plain up':>9} {'vault up':>9} {'ratio':>6} |"
        f" {'plain down':>10} {'vault down':>10} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    missed, scan_bound, scanned_rows = [], [], []
    for label, url in scanners:
        settings.CLAMD_URL = url
        for size_mb in SIZES_MB:
            size = size_mb * MB
            best = {"pw": float("inf"), "pr": float("inf"), "vw": float("inf"), "vr": float("inf")}
            best["ps"] = float("inf")
            for _round in range(ROUNDS):
                written, read = baseline(size)
                best["pw"], best["pr"] = min(best["pw"], written), min(best["pr"], read)
                if url:
                    best["ps"] = min(best["ps"], baseline_scanned(size))
                uploaded, downloaded, document = pipeline(size)
                if url and document.scan_status != ScanStatus.CLEAN:
                    raise RuntimeError(f"scan gave {document.scan_status}: {document.scan_detail}")
                best["vw"], best["vr"] = min(best["vw"], uploaded), min(best["vr"], downloaded)
            rates = {key: size / MB / value for key, value in best.items()}
            up, down = rates["vw"] / rates["pw"], rates["vr"] / rates["pr"]
            print(
                f"{label:>28} {size_mb:>4} MB | {rates['pw']:>4.0f} MB/s {rates['vw']:>4.0f} MB/s"
                f" {up:>6.2f} | {rates['pr']:>5.0f} MB/s {rates['vr']:>5.0f} MB/s {down:>6.2f}"
            )
            if url:
                scanned_rows.append((size_mb, rates["ps"], rates["vw"], rates["vw"] / rates["ps"]))
            for what, ratio in (("upload", up), ("download", down)):
                if ratio < THROUGHPUT_AIM:
                    # With clamd, the plain baseline does not scan: the scan alone keeps an
                    # upload far below it, whatever the vault does (reported apart).
                    (scan_bound if url and what == "upload" else missed).append(
                        f"{what} {size_mb} MB {label} at {ratio:.2f}x"
                    )
    if scanned_rows:
        print(
            "\nUploads with clamd beside plain storage + the same clamd scan of the stored"
            " file (no encryption):\nthe scan bounds both; this ratio is the vault's own"
            " overhead, the one the 60% aim can measure when a scanner is on"
        )
        header = f"{'size':>7} | {'plain+scan up':>13} {'vault up':>9} {'ratio':>6}"
        print(header)
        print("-" * len(header))
        for size_mb, plain_scanned, vault_up, ratio in scanned_rows:
            print(
                f"{size_mb:>4} MB | {plain_scanned:>8.0f} MB/s {vault_up:>4.0f} MB/s {ratio:>6.2f}"
            )
            if ratio < THROUGHPUT_AIM:
                missed.append(f"upload {size_mb} MB with clamd at {ratio:.2f}x plain + scan")

    settings.CLAMD_URL = scanners[-1][1]
    largest = max(SIZES_MB) * MB
    with RssSampler() as rss:
        pipeline(largest)
    tracemalloc.start()
    pipeline(largest)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        f"\nMemory of the process while uploading then downloading {max(SIZES_MB)} MB through"
        f" the views ({scanners[-1][0]}): RSS growth {rss.growth / 2**20:.1f} MiB, peak"
        f" traced allocations {traced_peak / 2**20:.2f} MiB (aim: < {MEMORY_AIM_MB} MB)"
    )
    if max(rss.growth, traced_peak) >= MEMORY_AIM_MB * 2**20:
        missed.append(f"memory growth {max(rss.growth, traced_peak) / 2**20:.1f} MiB")
    print(
        f"Pipeline aims: throughput >= {THROUGHPUT_AIM:.0%} of the baseline (with clamd: of"
        f" plain storage + the same scan), memory < {MEMORY_AIM_MB} MB: "
        + ("all met" if not missed else "MISSED: " + "; ".join(missed))
    )
    if scan_bound:
        print(
            "Uploads with clamd against plain storage without a scan (the issue's aim read"
            " literally; bound by clamd's own speed, not met): " + "; ".join(scan_bound)
        )
    return 0


if __name__ == "__main__":
    try:
        status = main()
        if os.environ.get("BENCH_VAULT_PIPELINE", "1") != "0":
            status = pipeline_main() or status
        sys.exit(status)
    finally:
        import shutil

        shutil.rmtree(WORK_DIR, ignore_errors=True)
