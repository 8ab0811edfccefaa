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
The upload pipeline (sniffing, scanning) extends this file with its own cases.
"""

from __future__ import annotations

import hashlib
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


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        import shutil

        shutil.rmtree(WORK_DIR, ignore_errors=True)
