"""Document pages (placeholder, replaced below)."""

from django.http import HttpResponse

from .access import vault_view


def _todo(request, pk=None):
    return HttpResponse("")


document_list = vault_view(_todo)
document_upload = vault_view(_todo)
trash_list = vault_view(_todo)
document_detail = vault_view(_todo)
document_edit = vault_view(_todo)
document_download = vault_view(_todo)
document_view = vault_view(_todo)
document_trash = vault_view(_todo)
document_restore = vault_view(_todo)
document_destroy = vault_view(_todo)
