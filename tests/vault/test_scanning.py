"""Malware scanning against a real clamd with the local EICAR test signature.

The clamd fixtures are in tests/fixtures/clamd.py: these tests skip on a machine
without clamd and fail in CI, which must provide it (.ci/run).
"""

from __future__ import annotations

import time

import pytest

from mynetspace.core.checks import production_requirements
from mynetspace.core.health import HealthCheckFailed, health_check_names
from tests.fixtures.clamd import closed_port_url
from tests.vault import corpus
from vault import scan_checks, scanning
from vault.scanning import ClamdScanner, ScannerUnavailable, Verdict, parse_clamd_url

MiB = 1024 * 1024


def scanner_for(
    url: str, *, max_bytes: int = 64 * MiB, timeout: float = 10, connect_timeout: float = 2
) -> ClamdScanner:
    return ClamdScanner(url, connect_timeout=connect_timeout, timeout=timeout, max_bytes=max_bytes)


def chunked(data: bytes, size: int):
    return (data[start : start + size] for start in range(0, len(data), size))


def zeros(total: int, *, chunk: int = MiB):
    block = b"\x00" * chunk
    sent = 0
    while sent < total:
        piece = block[: min(chunk, total - sent)]
        sent += len(piece)
        yield piece


# --- Against a running clamd -------------------------------------------------------------


def test_eicar_is_infected(clamd_url):
    result = scanner_for(clamd_url).scan([corpus.eicar()])
    assert result.verdict is Verdict.INFECTED
    assert "Eicar" in result.signature
    error = result.error()
    assert error.code == "vault.infected"
    assert result.signature in str(error)


def test_eicar_in_a_zip_is_infected(clamd_url):
    """clamd unpacks archives: the signature matches the file inside."""
    result = scanner_for(clamd_url).scan(chunked(corpus.eicar_zip(), 100))
    assert result.verdict is Verdict.INFECTED


def test_eicar_sent_one_byte_at_a_time_is_infected(clamd_url):
    assert scanner_for(clamd_url).scan(chunked(corpus.eicar(), 1)).verdict is Verdict.INFECTED


@pytest.mark.parametrize(
    "sample", [s for s in corpus.BENIGN if s.id.startswith(("pdf", "jpeg", "png", "odt", "docx"))]
)
def test_benign_files_are_clean(clamd_url, sample):
    data = sample.data()
    result = scanner_for(clamd_url).scan(chunked(data, 4096))
    assert result.verdict is Verdict.CLEAN, result.detail
    assert result.is_clean
    assert result.scanned_bytes == len(data)
    assert result.error() is None


def test_a_large_clean_stream_is_scanned_in_frames(clamd_url):
    result = scanner_for(clamd_url).scan(zeros(5 * MiB, chunk=300_000))
    assert result.verdict is Verdict.CLEAN
    assert result.scanned_bytes == 5 * MiB


def test_our_own_limit_stops_the_stream_before_clamd_sees_it_all(clamd_url):
    """GIVEN a scan limit WHEN the stream is longer THEN refused, and not read further."""
    read = 0

    def source():
        nonlocal read
        for piece in zeros(10 * MiB, chunk=64 * 1024):
            read += len(piece)
            yield piece

    result = scanner_for(clamd_url, max_bytes=MiB).scan(source())
    assert result.verdict is Verdict.REFUSED
    assert result.scanned_bytes <= MiB
    assert read <= MiB + 64 * 1024
    assert result.error().code == "vault.scan_refused"


def test_errors_of_the_source_are_not_scan_results(clamd_url):
    def failing():
        yield b"%PDF-1.7\n"
        raise OSError("storage went away")

    started = time.monotonic()
    with pytest.raises(OSError, match="storage went away"):
        scanner_for(clamd_url).scan(failing())
    assert time.monotonic() - started < 5


# --- Limits of clamd itself ---------------------------------------------------------------------


def test_a_stream_over_clamd_stream_max_length_is_never_clean(private_clamd):
    """GIVEN clamd's StreamMaxLength (1M) below our limit WHEN 3 MiB or 40 MiB are
    sent THEN clamd cuts the stream and the answer is REFUSED, not CLEAN."""
    clamd = private_clamd(stream_max_length="1M", max_file_size="1M", max_scan_size="1M")
    scanner = scanner_for(clamd.url)
    for size in (3 * MiB, 40 * MiB):
        result = scanner.scan(zeros(size))
        assert result.verdict is Verdict.REFUSED, result
        assert "size limit" in result.detail


def test_a_file_over_clamd_scan_limits_is_never_clean(private_clamd):
    """GIVEN AlertExceedsMax and MaxFileSize 1M WHEN a 2 MiB file is scanned THEN clamd's
    Heuristics.Limits.Exceeded alert is a refusal, not an infection and not clean."""
    clamd = private_clamd(stream_max_length="4M", max_file_size="1M", max_scan_size="1M")
    result = scanner_for(clamd.url).scan(zeros(2 * MiB))
    assert result.verdict is Verdict.REFUSED
    assert result.signature.startswith("Heuristics.Limits.Exceeded")


def test_unix_socket(private_clamd):
    clamd = private_clamd(unix_socket=True)
    assert clamd.url.startswith("unix:///")
    scanner = scanner_for(clamd.url)
    assert scanner.ping() == "PONG"
    assert scanner.scan([corpus.eicar()]).verdict is Verdict.INFECTED


# --- clamd down -----------------------------------------------------------------------------------


def test_clamd_stopped_means_unavailable_quickly_then_clean_once_back(private_clamd):
    """GIVEN a running clamd WHEN it stops THEN scans answer UNAVAILABLE within the connect
    timeout (the document waits) AND once clamd is back the rescan says CLEAN."""
    clamd = private_clamd()
    scanner = scanner_for(clamd.url)
    pdf = corpus.pdf()
    assert scanner.scan([pdf]).verdict is Verdict.CLEAN

    clamd.stop()
    started = time.monotonic()
    result = scanner.scan([pdf])
    assert result.verdict is Verdict.UNAVAILABLE
    assert result.error() is None
    assert time.monotonic() - started < 2
    with pytest.raises(ScannerUnavailable):
        scanner.ping()

    clamd.start()
    assert scanner.scan([pdf]).verdict is Verdict.CLEAN


def test_nobody_listening_is_unavailable():
    started = time.monotonic()
    result = scanner_for(closed_port_url()).scan([b"data"])
    assert result.verdict is Verdict.UNAVAILABLE
    assert time.monotonic() - started < 2


def test_a_hung_clamd_times_out_as_unavailable(silent_server):
    """GIVEN a server that accepts and never answers WHEN scanning THEN UNAVAILABLE after
    the timeout, not a hang."""
    scanner = scanner_for(silent_server, timeout=0.5, connect_timeout=0.5)
    started = time.monotonic()
    assert scanner.scan(zeros(4 * MiB)).verdict is Verdict.UNAVAILABLE
    assert time.monotonic() - started < 5
    with pytest.raises(ScannerUnavailable):
        scanner.ping()


# --- Configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("tcp://127.0.0.1:3310", "tcp://127.0.0.1:3310"),
        ("tcp://clamav", "tcp://clamav:3310"),
        ("unix:///run/clamav/clamd.ctl", "unix:///run/clamav/clamd.ctl"),
    ],
)
def test_clamd_urls(url, expected):
    assert str(parse_clamd_url(url)) == expected


@pytest.mark.parametrize("url", ["http://clamav:3310", "clamav:3310", "tcp://", "unix://relative"])
def test_malformed_clamd_urls(url):
    with pytest.raises(ValueError):
        parse_clamd_url(url)


def test_without_a_scanner_nothing_is_read_and_documents_are_unscanned(settings):
    settings.CLAMD_URL = ""
    assert not scanning.scanner_configured()
    assert scanning.get_scanner() is None

    def never_read():
        raise AssertionError("the chunks must not be read")
        yield b""

    result = scanning.scan(never_read())
    assert result.verdict is Verdict.UNSCANNED
    assert not result.is_clean


def test_a_malformed_url_keeps_documents_waiting(settings):
    settings.CLAMD_URL = "http://clamav:3310"
    assert scanning.scan([b"x"]).verdict is Verdict.UNAVAILABLE


def test_scan_uses_the_settings(settings, clamd_url):
    settings.CLAMD_URL = clamd_url
    settings.VAULT_SCAN_MAX_BYTES = 10
    assert scanning.scan([corpus.eicar()]).verdict is Verdict.REFUSED
    settings.VAULT_SCAN_MAX_BYTES = MiB
    assert scanning.scan([corpus.eicar()]).verdict is Verdict.INFECTED


# --- check --deploy and /healthz -----------------------------------------------------------------


def test_deploy_check_requires_a_well_formed_scanner(settings):
    assert {"vault.E001", "vault.E011"} <= {r.id for r in production_requirements()}
    settings.CLAMD_URL = ""
    assert "No malware scanner" in scan_checks.scanner_configured()
    settings.CLAMD_URL = "clamav:3310"
    assert "malformed" in scan_checks.scanner_configured()
    settings.CLAMD_URL = "tcp://clamav:3310"
    assert scan_checks.scanner_configured() is None


def test_deploy_check_scan_limit_covers_uploads(settings):
    settings.UPLOAD_MAX_BYTES = 25 * MiB
    settings.VAULT_SCAN_MAX_BYTES = 10 * MiB
    assert "VAULT_SCAN_MAX_MB" in scan_checks.scan_limit_covers_uploads()
    settings.VAULT_SCAN_MAX_BYTES = 25 * MiB
    assert scan_checks.scan_limit_covers_uploads() is None


def test_health_component(settings, private_clamd):
    assert "scanner" in health_check_names()
    settings.CLAMD_URL = ""
    assert scan_checks.check_scanner() == "not configured"
    clamd = private_clamd()
    settings.CLAMD_URL = clamd.url
    assert scan_checks.check_scanner() == "clamd"
    clamd.stop()
    with pytest.raises(HealthCheckFailed, match="clamd unreachable"):
        scan_checks.check_scanner()
