"""URLconf for benchmarks/bench_accounts.py: the product plus a bare baseline view.

The bare view renders 20 rows read with one query and nothing else: no layout, no
session, no context processors. It is the yardstick the account pages are measured
against, and exists only under these bench settings.
"""

from django.http import HttpResponse
from django.template import engines
from django.urls import path

from audit.models import Event
from mynetspace.urls import urlpatterns as product_urlpatterns

_TEMPLATE = engines["django"].from_string(
    '<!DOCTYPE html><html lang="fr"><title>bare</title><table>'
    "{% for seq, action, at in rows %}<tr><td>{{ seq }}</td><td>{{ action }}</td>"
    "<td>{{ at|date:'c' }}</td></tr>{% endfor %}</table></html>"
)


def bare_rows(request):
    rows = list(
        Event.objects.filter(chain_key=request.GET.get("chain", "system"))
        .order_by("-seq")
        .values_list("seq", "action", "occurred_at")[:20]
    )
    return HttpResponse(_TEMPLATE.render({"rows": rows}))


urlpatterns = [path("bench/bare/", bare_rows), *product_urlpatterns]
