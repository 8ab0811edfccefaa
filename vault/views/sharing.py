"""Share links: the owner's pages (/coffre/...) and the public page (/partage/<token>/).

Owner pages go through :func:`vault_view` and select the owner's own rows only, so
another customer, staff or an anonymous visitor get 404 (or the login page). The
public page works logged out; every unusable link gives the same 404 page, whatever
the reason (``vault/public_share_gone.html``).
"""

from __future__ import annotations

import logging

from allauth.core import ratelimit
from django import forms
from django.contrib import messages
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from audit.models import Event
from mynetspace.core.errors import DomainError

from .. import crypto, keys, sharing
from ..blobs import PlaintextStream
from ..models import Document, ShareLink
from ..selectors import document_get_for
from .access import vault_view
from .documents import INLINE_PDF_POLICY, SANDBOX_POLICY, content_disposition, download_name

logger = logging.getLogger(__name__)

#: Session key remembering that a visitor gave the right code for a link.
CODE_SESSION_KEY = "vault_share_codes"


def file_response(
    stream: PlaintextStream, document: Document, *, inline: bool = False
) -> StreamingHttpResponse:
    """The verified plaintext, streamed with the headers of the owner's own download
    (vault/views/documents.py: RFC 6266 name, nosniff, sandbox CSP, no-store)."""
    response = StreamingHttpResponse(stream, content_type=document.content_type)
    response["Content-Length"] = str(document.size)
    response["Content-Disposition"] = content_disposition(
        "inline" if inline else "attachment", download_name(document)
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = (
        INLINE_PDF_POLICY
        if inline and document.content_type == "application/pdf"
        else SANDBOX_POLICY
    )
    response["Cache-Control"] = "no-store"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["Referrer-Policy"] = "no-referrer"
    return response


class ShareForm(forms.Form):
    days = forms.TypedChoiceField(
        label=gettext_lazy("Durée de validité"),
        choices=[
            (1, gettext_lazy("1 jour")),
            (7, gettext_lazy("7 jours")),
            (14, gettext_lazy("14 jours")),
            (30, gettext_lazy("30 jours")),
        ],
        coerce=int,
        initial=sharing.DEFAULT_DAYS,
    )
    code = forms.CharField(
        label=gettext_lazy("Code d'accès (facultatif)"),
        required=False,
        min_length=sharing.CODE_MIN_LENGTH,
        max_length=sharing.CODE_MAX_LENGTH,
        strip=False,
        help_text=gettext_lazy(
            "Au moins 6 caractères. Communiquez-le à votre destinataire par un autre moyen "
            "que le lien. Nous ne le conservons que sous forme chiffrée."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    max_downloads = forms.IntegerField(
        label=gettext_lazy("Nombre maximal de téléchargements (facultatif)"),
        required=False,
        min_value=1,
        max_value=sharing.MAX_DOWNLOADS,
    )


def _accesses(links) -> dict[int, list[Event]]:
    """Events of the owner's chain about these links, newest first, by link id."""
    ids = [str(link.pk) for link in links]
    by_link: dict[int, list[Event]] = {int(i): [] for i in ids}
    if not ids:
        return by_link
    owner_id = links[0].owner_id
    events = Event.objects.filter(
        chain_key=f"user:{owner_id}",
        target_type="vault.sharelink",
        target_id__in=ids,
        action__in=["vault.share_accessed", "vault.share_downloaded", "vault.share_code_failed"],
    ).order_by("-seq")[:500]
    for event in events:
        by_link[int(event.target_id)].append(event)
    return by_link


@require_http_methods(["GET", "HEAD", "POST"])
@vault_view
def share_document(request, pk):
    """Create a link for one document; the token is shown once, on this response."""
    document = document_get_for(request.user, pk)
    form = ShareForm(request.POST or None)
    created = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                link, token = sharing.share_create(
                    document=document,
                    acting_user=request.user,
                    days=form.cleaned_data["days"],
                    code=form.cleaned_data["code"],
                    max_downloads=form.cleaned_data["max_downloads"],
                    meta=request.audit_meta,
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = 400
            else:
                created = {
                    "link": link,
                    "url": request.build_absolute_uri(reverse("share_public", args=[token])),
                }
                form = ShareForm()
        else:
            status = 400
    links = list(ShareLink.objects.filter(document=document, owner=request.user))
    accesses = _accesses(links)
    context = {
        "document": document,
        "form": form,
        "created": created,
        "shareable": sharing.is_shareable(document),
        "links": [(link, accesses[link.pk]) for link in links],
    }
    response = render(request, "vault/share_document.html", context, status=status)
    if created:
        # The page holds a secret shown once: never cached, no referrer to other sites.
        response["Cache-Control"] = "no-store"
        response["Referrer-Policy"] = "same-origin"
    return response


@require_http_methods(["GET", "HEAD"])
@vault_view
def share_list(request):
    links = list(ShareLink.objects.filter(owner=request.user).select_related("document")[:200])
    accesses = _accesses(links)
    return render(
        request,
        "vault/share_list.html",
        {"links": [(link, accesses[link.pk]) for link in links]},
    )


@require_http_methods(["GET", "HEAD"])
@vault_view
def share_detail(request, link_id):
    link = get_object_or_404(
        ShareLink.objects.select_related("document"), pk=link_id, owner=request.user
    )
    return render(
        request,
        "vault/share_detail.html",
        {"link": link, "accesses": _accesses([link])[link.pk]},
    )


@require_POST
@vault_view
def share_revoke(request, link_id):
    link = get_object_or_404(ShareLink, pk=link_id, owner=request.user)
    sharing.share_revoke(link=link, acting_user=request.user, meta=request.audit_meta)
    messages.success(request, _("Le lien est désactivé : plus personne ne peut l'utiliser."))
    return redirect("vault:share_detail", link_id=link.pk)


# --- Public page --------------------------------------------------------------------------


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code d'accès"),
        max_length=sharing.CODE_MAX_LENGTH,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )


def _gone(request):
    response = render(request, "vault/public_share_gone.html", status=404)
    response["Referrer-Policy"] = "same-origin"
    response["Cache-Control"] = "no-store"
    return response


def _code_given(request, link: ShareLink) -> bool:
    return not link.has_code or link.pk in request.session.get(CODE_SESSION_KEY, [])


def _public(request, template, context, status=200):
    # The token is in the URL: never sent to another site. "same-origin" rather than
    # "no-referrer", with which browsers send "Origin: null" on this page's own POST
    # forms, which the CSRF check refuses.
    response = render(request, template, context, status=status)
    response["Referrer-Policy"] = "same-origin"
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@require_http_methods(["GET", "HEAD", "POST"])
def public_share(request, token):
    """The page a third party opens: the document's name and a download button."""
    try:
        link = sharing.share_resolve(token=token)
    except sharing.ShareNotFound:
        return _gone(request)
    form = CodeForm(request.POST or None) if link.has_code else None
    status = 200
    if request.method == "POST" and form is not None:
        if not ratelimit.consume(request, action="vault_share_code"):
            # Before anything is compared or recorded: one address cannot try codes on
            # many links, nor lock other people's links by typing wrong codes. (The form is
            # validated only so that it can carry the message.)
            form.is_valid()
            form.add_error(
                "code",
                _("Trop de codes saisis depuis votre connexion : réessayez dans quelques minutes."),
            )
            status = 429
        elif form.is_valid():
            try:
                sharing.share_code_check(
                    link=link, code=form.cleaned_data["code"], meta=request.audit_meta
                )
            except sharing.ShareNotFound:
                return _gone(request)
            except DomainError as exc:
                form.add_error("code", exc.message)
                status = 403
            else:
                granted = request.session.get(CODE_SESSION_KEY, [])
                request.session[CODE_SESSION_KEY] = [*granted[-20:], link.pk]
                return redirect("share_public", token=token)
        else:
            status = 400
    elif request.method != "POST":
        sharing.share_access_record(link=link, meta=request.audit_meta)
    context = {
        "link": link,
        "token": token,
        "form": form,
        "unlocked": _code_given(request, link),
    }
    return _public(request, "vault/public_share.html", context, status=status)


@require_POST
def public_share_download(request, token):
    try:
        link = sharing.share_resolve(token=token)
    except sharing.ShareNotFound:
        return _gone(request)
    if not _code_given(request, link):
        return redirect("share_public", token=token)
    try:
        stream = sharing.share_download_start(link=link, meta=request.audit_meta)
    except sharing.ShareNotFound:
        return _gone(request)
    except (DomainError, crypto.BlobIntegrityError):
        # Destroyed key or damaged blob: nothing to hand out, same answer as a dead link.
        logger.warning("share link %s: the document could not be opened", link.pk, exc_info=True)
        return _gone(request)
    except keys.MasterKeyError:
        logger.exception("share link %s: master key unavailable", link.pk)
        return _public(request, "vault/public_share_unavailable.html", {}, status=503)
    response = file_response(stream, link.document)
    response["Referrer-Policy"] = "no-referrer"
    return response
