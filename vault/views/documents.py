"""The customer's documents: list, upload, detail, edit, download and view, trash.

Access: a document URL answers 404 to anyone but the owner (another customer, staff,
an anonymous visitor) before anything else happens (``vault_document_view``); staff
read documents only through a grant (vault/views/staff.py). Downloads and views are
fail-closed (only servable documents, see ``selectors.document_is_servable``), need a
recent authentication (DESIGN §4 accounts: vault download is a sensitive action) and
are recorded before the first byte leaves.
"""

from __future__ import annotations

from urllib.parse import quote

from allauth.account.decorators import reauthentication_required
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import SuspiciousFileOperation
from django.db import transaction
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from mynetspace.core.errors import DomainError

from .. import crypto, keys, selectors, services
from ..filenames import clean_filename, ensure_extension, extension_of
from ..forms import DocumentEditForm, DocumentFilterForm, UploadForm
from ..models import DocumentSource, ScanStatus
from ..uploads import UploadStream, VaultUploadHandler, parse_in_thread
from .access import vault_document_view, vault_view
from .classification import classification_panel

#: Content types a browser shows itself; others are only downloaded.
INLINE_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png", "image/webp"})

#: The policy of a served document: no script, no plugin, no form, no same-origin.
SANDBOX_POLICY = "sandbox"
#: Chrome and Firefox refuse to run their PDF viewer in a sandboxed document, so an
#: inline PDF gets a policy that forbids everything the viewer itself does not need.
#: PDFs with JavaScript, actions or attachments are refused at upload anyway.
INLINE_PDF_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data: blob:; "
    "frame-ancestors 'none'; form-action 'none'; base-uri 'none'"
)


def _upload_max_mb() -> int:
    return settings.UPLOAD_MAX_BYTES // (1024 * 1024)


# --- List ---------------------------------------------------------------------------------


@require_safe
@vault_view
def document_list(request):
    form = DocumentFilterForm(request.GET or None)
    filters = form.filters() if request.GET else DocumentFilterForm().filters()
    page = selectors.document_page_for(request.user, filters, request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form if request.GET else DocumentFilterForm(),
        "page": page,
        "filters": filters,
        "filtered": bool(filters.q or filters.doc_type or filters.tag),
        "query": query.urlencode(),
        "tags": selectors.tag_list_for(request.user),
        "usage": selectors.vault_usage_for(request.user),
    }
    return render(request, "vault/documents.html", context)


@require_safe
@vault_view
def trash_list(request):
    filters = DocumentFilterForm().filters(trashed=True)
    page = selectors.document_page_for(request.user, filters, request.GET.get("page"))
    for document in page.object_list:
        document.purge_on = document.trashed_at + timezone.timedelta(
            days=services.TRASH_RETENTION_DAYS
        )
    context = {"page": page, "retention_days": services.TRASH_RETENTION_DAYS}
    return render(request, "vault/documents_trash.html", context)


# --- Upload ------------------------------------------------------------------------------


def _upload_page(request, form, *, status=200):
    context = {
        "form": form,
        "usage": selectors.vault_usage_for(request.user),
        "max_mb": _upload_max_mb(),
    }
    return render(request, "vault/documents_upload.html", context, status=status)


@csrf_exempt  # checked below, once the streamed body is parsed (vault/uploads.py)
@require_http_methods(["GET", "HEAD", "POST"])
@vault_view
def document_upload(request):
    """Upload one file, streamed into the pipeline while the body arrives.

    The CSRF token is checked after the body is parsed (it is a form field); the
    blob written meanwhile is destroyed if the check fails, as for any refusal.
    """
    if request.method != "POST":
        return _upload_page(request, UploadForm(max_mb=_upload_max_mb()))
    stream = UploadStream()
    request.upload_handlers = [VaultUploadHandler(request, stream)]
    parser = parse_in_thread(request, stream)
    received = None
    refusal: DomainError | None = None
    has_file = False
    try:
        has_file = stream.wait_for_file()
        if has_file:
            received = services.document_receive(
                owner=request.user,
                chunks=stream.chunks(),
                filename=stream.filename or "",
                source=DocumentSource.UPLOAD,
                meta=request.audit_meta,
            )
    except DomainError as error:
        refusal = error
    finally:
        stream.abort()  # let the parser skip whatever the pipeline did not read
        parser.join()

    def discard() -> None:
        if received is not None:
            services.received_discard(received)

    if isinstance(stream.parse_error, SuspiciousFileOperation):
        # Django refuses a file name it cannot make safe (".." alone, for instance).
        refusal = DomainError(
            _("Le nom du fichier n'est pas valide : renommez le fichier puis réessayez."),
            "vault.filename_invalid",
        )
    elif stream.parse_error is not None:
        discard()
        return HttpResponseBadRequest(_("La requête est mal formée."))
    csrf_failure = CsrfViewMiddleware(lambda r: None).process_view(request, _csrf_probe, (), {})
    if csrf_failure is not None:
        discard()
        return csrf_failure

    form = UploadForm(request.POST, max_mb=_upload_max_mb())
    valid = form.is_valid()
    if refusal is not None:
        form.add_error("file", refusal.message)
    elif not has_file:
        form.add_error("file", _("Choisissez le fichier à déposer."))
    if not valid or received is None:
        discard()
        return _upload_page(request, form, status=400)
    try:
        document = services.document_create(
            owner=request.user,
            received=received,
            title=form.cleaned_data["title"],
            doc_type=form.cleaned_data["doc_type"],
            actor=request.user,
            meta=request.audit_meta,
        )
    except DomainError as error:
        form.add_error("file", error.message)
        return _upload_page(request, form, status=400)
    document.refresh_from_db()
    _scan_message(request, document)
    return redirect("vault:document", pk=document.uuid)


def _csrf_probe(request):  # pragma: no cover - a callback CsrfViewMiddleware inspects
    return None


def _scan_message(request, document) -> None:
    if document.scan_status == ScanStatus.INFECTED:
        messages.error(
            request,
            _(
                "L'antivirus a détecté un logiciel malveillant dans « %(name)s » : "
                "le fichier a été refusé et détruit."
            )
            % {"name": document.original_name},
        )
    elif document.scan_status == ScanStatus.REJECTED:
        messages.error(
            request,
            _(
                "L'antivirus n'a pas pu vérifier « %(name)s » en entier : par prudence, "
                "le fichier a été refusé et détruit."
            )
            % {"name": document.original_name},
        )
    elif document.scan_status == ScanStatus.PENDING_SCAN:
        messages.info(
            request,
            _(
                "Document déposé. L'analyse antivirus est en cours : il sera disponible "
                "dès qu'elle sera terminée."
            ),
        )
    else:
        messages.success(request, _("Document déposé dans votre coffre."))


# --- Detail and changes ------------------------------------------------------------------------


@vault_document_view(trashed=None, include_destroyed=True)
@require_safe
def document_detail(request, document):
    context = {
        "document": document,
        "servable": selectors.document_is_servable(document),
        "inline": document.content_type in INLINE_TYPES,
        "trail": selectors.document_trail(document),
        "scanner_configured": selectors.scanner_configured(),
    }
    if not document.is_trashed and not document.is_destroyed:
        context["classification_panel"] = classification_panel(request, document)
    return render(request, "vault/document_detail.html", context)


def _edit_initial(document) -> dict:
    return {
        "title": document.title,
        "doc_type": document.doc_type,
        "tags": ", ".join(tag.name for tag in document.tags.all()),
        "issued_on": document.issued_on,
        "expires_on": document.expires_on,
    }


@vault_document_view
@require_http_methods(["GET", "HEAD", "POST"])
def document_edit(request, document):
    if request.method != "POST":
        form = DocumentEditForm(initial=_edit_initial(document))
        return render(request, "vault/document_edit.html", {"document": document, "form": form})
    form = DocumentEditForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        actor, meta = request.user, request.audit_meta
        try:
            # One change of the form is one event per field changed, all or nothing.
            with transaction.atomic():
                services.document_rename(
                    document=document, title=data["title"], actor=actor, meta=meta
                )
                services.document_retype(
                    document=document, doc_type=data["doc_type"], actor=actor, meta=meta
                )
                services.document_tags_set(
                    document=document, names=data["tags"], actor=actor, meta=meta
                )
                services.document_dates_set(
                    document=document,
                    issued_on=data["issued_on"],
                    expires_on=data["expires_on"],
                    actor=actor,
                    meta=meta,
                )
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Modifications enregistrées."))
            return redirect("vault:document", pk=document.uuid)
    context = {"document": document, "form": form}
    return render(request, "vault/document_edit.html", context, status=400)


@vault_document_view
@require_POST
def document_trash(request, document):
    services.document_trash(document=document, actor=request.user, meta=request.audit_meta)
    messages.success(
        request,
        _(
            "« %(title)s » est dans la corbeille. Vous pouvez l'en sortir pendant %(days)s "
            "jours ; il sera ensuite détruit définitivement."
        )
        % {"title": document.title, "days": services.TRASH_RETENTION_DAYS},
    )
    return redirect("vault:documents")


@vault_document_view(trashed=True)
@require_POST
def document_restore(request, document):
    services.document_restore(document=document, actor=request.user, meta=request.audit_meta)
    messages.success(
        request, _("« %(title)s » est de retour dans vos documents.") % {"title": document.title}
    )
    return redirect("vault:document", pk=document.uuid)


@vault_document_view(trashed=True)
@require_http_methods(["GET", "HEAD", "POST"])
def document_destroy(request, document):
    """Destroy a trashed document now, after a confirmation page."""
    if request.method != "POST":
        return render(request, "vault/document_destroy.html", {"document": document})
    services.document_destroy(
        document=document, actor=request.user, reason="customer", meta=request.audit_meta
    )
    messages.success(
        request, _("« %(title)s » a été détruit définitivement.") % {"title": document.title}
    )
    return redirect("vault:trash")


# --- Download and view -------------------------------------------------------------------------


def download_name(document) -> str:
    """The file name a download carries: the title, with the stored type's extension."""
    extension = extension_of(document.original_name)
    try:
        name = clean_filename(document.title)
    except DomainError:
        name = document.original_name or "document"
    if extension and extension_of(name) != extension:
        name = f"{name}.{extension}"
    return ensure_extension(name, extension)


def content_disposition(disposition: str, filename: str) -> str:
    """RFC 6266: an ASCII ``filename`` fallback and the exact UTF-8 ``filename*``."""
    fallback = "".join(
        char if 0x20 <= ord(char) < 0x7F and char not in '"\\;%' else "_" for char in filename
    )
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def serve_document(request, document, *, inline: bool, actor, meta, record=True):
    """Stream ``document``'s verified plaintext with the headers every served document
    carries. Raises (before any byte) if the key or blob is gone."""
    stream = services_blob_open(document)
    try:
        if record:
            services.document_access_record(
                document=document, actor=actor, inline=inline, meta=meta
            )
    except BaseException:
        stream.close()
        raise
    response = StreamingHttpResponse(stream, content_type=document.content_type)
    response["Content-Length"] = str(document.size)
    response["Content-Disposition"] = content_disposition(
        "inline" if inline else "attachment", download_name(document)
    )
    response["X-Content-Type-Options"] = "nosniff"
    policy = (
        INLINE_PDF_POLICY
        if inline and document.content_type == "application/pdf"
        else SANDBOX_POLICY
    )
    response["Content-Security-Policy"] = policy
    response["Cache-Control"] = "no-store"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["Referrer-Policy"] = "no-referrer"
    return response


def services_blob_open(document):
    from ..blobs import blob_open

    return blob_open(document=document)


def _serve(request, document, *, inline: bool):
    if not selectors.document_is_servable(document):
        return render(
            request, "vault/document_unavailable.html", {"document": document}, status=409
        )
    if inline and document.content_type not in INLINE_TYPES:
        return redirect("vault:download", pk=document.uuid)
    return _serve_recently_authenticated(request, document, inline=inline)


@reauthentication_required
def _serve_recently_authenticated(request, document, *, inline: bool):
    try:
        return serve_document(
            request, document, inline=inline, actor=request.user, meta=request.audit_meta
        )
    except (crypto.BlobIntegrityError, keys.KeyDestroyed, keys.KeyVersionGone) as error:
        return render(
            request,
            "vault/document_unavailable.html",
            {"document": document, "damaged": True, "reason": getattr(error, "reason", "")},
            status=409,
        )


@vault_document_view
@require_safe
def document_download(request, document):
    return _serve(request, document, inline=False)


@vault_document_view
@require_safe
def document_view(request, document):
    return _serve(request, document, inline=True)
