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


def test_every_field_of_our_models_has_a_translatable_label():
    """Staff read these labels in the admin (evidence, emails, consents): none may fall
    back to the English attribute name Django derives when a field has no label."""
    from django.apps import apps
    from django.utils.functional import Promise

    ours = {"accounts", "assistance", "audit", "core", "guides", "subscriptions", "vault"}
    missing = []
    for model in apps.get_models():
        if model._meta.app_label not in ours:
            continue
        for field in model._meta.get_fields():
            if not getattr(field, "concrete", False) or field.auto_created:
                continue
            if not isinstance(field.verbose_name, Promise):
                missing.append(f"{model._meta.label}.{field.name}")
            if field.help_text and not isinstance(field.help_text, Promise):
                missing.append(f"{model._meta.label}.{field.name} (help text)")
    assert not missing, missing
