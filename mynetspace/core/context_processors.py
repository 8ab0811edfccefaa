"""Values every template needs."""

from django.conf import settings


def site(request):
    return {
        "SITE_NAME": "MyNetSpace",
        "SITE_URL": settings.SITE_URL,
        "OFFICIAL_PORTAL_URL": "https://www.service-public.fr/",
        "OFFICIAL_ACCOUNT_URL": "https://connexion.mon.service-public.fr/",
        "COMPANY_NAME": settings.COMPANY_NAME,
        "SUPPORT_EMAIL": settings.SUPPORT_EMAIL,
        "MEDIATOR_NAME": settings.MEDIATOR_NAME,
        "MEDIATOR_URL": settings.MEDIATOR_URL,
    }
