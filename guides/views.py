"""Public pages of the legal texts: current version, history, older versions, diff.

Every page reads published versions only (never the staff draft) and costs a fixed
number of queries. Unknown or malformed versions give a translated 404 page or a
form error, never a server error.
"""

from __future__ import annotations

from django.shortcuts import render
from django.utils.translation import get_language
from django.views.decorators.http import require_safe

from . import selectors
from .diff import diff_texts
from .forms import VersionCompareForm
from .models import LegalDocument


def _language() -> str:
    return (get_language() or selectors.REFERENCE_LANGUAGE).split("-")[0]


def _base_context(kind: str) -> dict:
    return {"kind": kind, "kind_label": LegalDocument.Kind(kind).label}


def _not_found(request, kind: str, *, number: int | None = None):
    context = {**_base_context(kind), "number": number}
    return render(request, "guides/legal/unavailable.html", context, status=404)


@require_safe
def legal_current(request, kind: str):
    version = selectors.legal_version_current(kind=kind, language=_language())
    if version is None:
        return _not_found(request, kind)
    context = {**_base_context(kind), "version": version, "is_current": True}
    return render(request, "guides/legal/document.html", context)


@require_safe
def legal_history(request, kind: str):
    versions = selectors.legal_version_list(kind=kind, language=_language())
    if not versions:
        return _not_found(request, kind)
    previous = [v.version for v in versions[1:]] + [None]
    context = {
        **_base_context(kind),
        "versions": versions,
        "rows": list(zip(versions, previous, strict=True)),
        "current": versions[0],
    }
    return render(request, "guides/legal/history.html", context)


@require_safe
def legal_version(request, kind: str, number: int):
    version = selectors.legal_version_get(kind=kind, version=number, language=_language())
    if version is None:
        return _not_found(request, kind, number=number)
    latest = selectors.legal_version_latest_number(kind=kind)
    context = {
        **_base_context(kind),
        "version": version,
        "is_current": version.version == latest,
        "latest": latest,
    }
    return render(request, "guides/legal/document.html", context)


@require_safe
def legal_diff(request, kind: str):
    language = _language()
    versions = selectors.legal_version_list(kind=kind, language=language)
    if not versions:
        return _not_found(request, kind)
    context = {**_base_context(kind), "versions": versions, "current": versions[0], "form": None}
    if len(versions) < 2:
        return render(request, "guides/legal/diff.html", context)
    numbers = [v.version for v in versions]
    data = request.GET
    if "de" not in data and "a" not in data:
        # Without a choice, show what the latest publication changed.
        data = {"de": str(numbers[1]), "a": str(numbers[0])}
    form = context["form"] = VersionCompareForm(data, versions=numbers)
    if not form.is_valid():
        return render(request, "guides/legal/diff.html", context, status=400)
    older, newer = selectors.legal_version_pair(
        kind=kind, older=form.cleaned_data["de"], newer=form.cleaned_data["a"], language=language
    )
    if older is None or newer is None:  # the choices come from the same rows: defensive only
        return _not_found(request, kind)
    context.update(
        older=older,
        newer=newer,
        title_diff=diff_texts(older.title, newer.title) if older.title != newer.title else None,
        body_diff=diff_texts(older.body, newer.body),
    )
    return render(request, "guides/legal/diff.html", context)
