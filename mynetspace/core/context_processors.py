"""Values every template needs."""

from django.conf import settings


def site(request):
    return {
        "SITE_NAME": "MyNetSpace",
        "OFFICIAL_PORTAL_URL": "https://www.service-public.fr/",
        "OFFICIAL_ACCOUNT_URL": "https://connexion.mon.service-public.fr/",
        "SITE_URL": settings.SITE_URL,
    }
