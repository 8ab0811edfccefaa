"""URLconf where two of the pages the navigation announces already exist."""

from django.http import HttpResponse
from django.urls import path

from mynetspace.urls import urlpatterns as root_patterns


def stub(request):
    return HttpResponse("stub")


urlpatterns = [
    path("tarifs/", stub, name="pricing"),
    path("espace/", stub, name="dashboard"),
    *root_patterns,
]
