"""English is complete: every French source string has its English translation."""

import shutil
import subprocess
from pathlib import Path

from django.conf import settings

from tests.conftest import require_service

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "en" / "LC_MESSAGES" / "django.po"


def test_english_catalogue_has_no_untranslated_or_fuzzy_entry(tmp_path):
    require_service("GNU gettext (msgfmt)", shutil.which("msgfmt") is not None)
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", str(tmp_path / "en.mo"), str(CATALOGUE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "untranslated" not in result.stderr, result.stderr
    assert "fuzzy" not in result.stderr, result.stderr


def test_compiled_catalogue_matches_its_source(tmp_path):
    """The committed .mo (what a fresh machine serves) is the compiled .po."""
    require_service("GNU gettext (msgfmt)", shutil.which("msgfmt") is not None)
    compiled = tmp_path / "en.mo"
    subprocess.run(["msgfmt", "-o", str(compiled), str(CATALOGUE)], check=True)
    assert compiled.read_bytes() == CATALOGUE.with_suffix(".mo").read_bytes(), (
        "run `make messages` and commit locale/"
    )
