"""Public pages of the guides app. The legal paths are stable (DESIGN §5)."""

from django.urls import path, register_converter

from . import views
from .models import LegalDocument


class LegalKindConverter:
    """Matches only the path of a legal text (``cgv``, ``confidentialite``...)."""

    regex = "|".join(sorted(LegalDocument.Kind.values, key=len, reverse=True))

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(LegalKindConverter, "legalkind")

app_name = "guides"

urlpatterns = [
    path("<legalkind:kind>/", views.legal_current, name="legal_current"),
    path("<legalkind:kind>/versions/", views.legal_history, name="legal_history"),
    path("<legalkind:kind>/versions/<int:number>/", views.legal_version, name="legal_version"),
    path("<legalkind:kind>/diff/", views.legal_diff, name="legal_diff"),
]
