"""The hostile corpus is refused, each item by the layer meant to, with a clear message;
the benign corpus is accepted. The checks run as the upload pipeline chains them:
name, then content (size, type, structure), then the malware scanner."""

from __future__ import annotations

import pytest

from mynetspace.core.errors import DomainError
from tests.vault.corpus import BENIGN, HOSTILE, Sample
from vault.filenames import clean_filename
from vault.scanning import ClamdScanner, Verdict
from vault.sniffing import ContentCheck


def check_upload(sample: Sample, *, scanner: ClamdScanner | None):
    """(layer, outcome): the clean name and file type, or the refusal."""
    try:
        name = clean_filename(sample.filename)
    except DomainError as error:
        return "filename", error
    check = ContentCheck(filename=name)
    try:
        for chunk in sample.chunks():
            check.feed(chunk)
        file_type = check.finish()
    except DomainError as error:
        return "content", error
    if scanner is not None:
        result = scanner.scan(sample.chunks())
        if result.verdict is not Verdict.CLEAN:
            return "scanner", result.error()
    return "accepted", (name, file_type)


def scanner_if_needed(sample: Sample, request) -> ClamdScanner | None:
    if sample.refused_by != "scanner":
        return None
    url = request.getfixturevalue("clamd_url")
    return ClamdScanner(url, connect_timeout=2, timeout=10, max_bytes=64 * 1024 * 1024)


@pytest.mark.parametrize("sample", HOSTILE, ids=lambda s: s.id)
def test_hostile_files_are_refused_with_a_clear_message(sample, request):
    layer, outcome = check_upload(sample, scanner=scanner_if_needed(sample, request))
    assert layer == sample.refused_by, outcome
    assert isinstance(outcome, DomainError)
    assert outcome.code == sample.code
    message = str(outcome)
    assert len(message) >= 15 and message.endswith(".")


@pytest.mark.parametrize("sample", BENIGN, ids=lambda s: s.id)
def test_benign_files_are_accepted(sample):
    layer, outcome = check_upload(sample, scanner=None)
    assert layer == "accepted", outcome
    name, file_type = outcome
    if sample.clean_name:
        assert name == sample.clean_name
    if sample.content_type:
        assert file_type.content_type == sample.content_type
    assert file_type.extension in file_type.extensions


def test_the_corpus_covers_the_issue():
    """The issue names these hostile items; the corpus must keep them all."""
    ids = {sample.id for sample in HOSTILE} | {sample.id for sample in BENIGN}
    required = {
        "eicar-raw",
        "eicar-zip",
        "eicar-as-pdf",
        "html-as-pdf",
        "svg-as-pdf",
        "pdf-javascript",
        "empty",
        "size-limit-plus-one",
        "name-parent-dirs",
        "name-nul",
        "name-rtl-override",
        "name-300-characters",
        "pdf-minimal",
        "jpeg",
        "png",
    }
    assert required <= ids
