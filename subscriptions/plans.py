"""The plans on sale, declared once and seeded by a data migration.

Production needs them as much as a demo does, so migration ``0003_seed_plans``
creates them; :func:`plans_ensure` is idempotent (it creates what is missing and
never changes a plan that exists: prices already sold are not rewritten).
"""

from __future__ import annotations

GIB = 1024**3

PLANS = (
    {
        "code": "mensuel",
        "name_fr": "Mensuelle",
        "name_en": "Monthly",
        "price_ttc_cents": 990,
        "vat_rate_bp": 2000,
        "interval": "month",
        "requests_per_month": 3,
        "vault_quota_bytes": 5 * GIB,
        "display_order": 10,
    },
    {
        "code": "annuel",
        "name_fr": "Annuelle",
        "name_en": "Yearly",
        "price_ttc_cents": 9900,
        "vat_rate_bp": 2000,
        "interval": "year",
        "requests_per_month": 5,
        "vault_quota_bytes": 20 * GIB,
        "display_order": 20,
    },
)


def plans_ensure(plan_model) -> list[str]:
    """Create the missing plans; returns the codes created. ``plan_model`` is the
    ``Plan`` class (or its historical version inside a migration)."""
    created = []
    for values in PLANS:
        _, was_created = plan_model.objects.get_or_create(
            code=values["code"], defaults={k: v for k, v in values.items() if k != "code"}
        )
        if was_created:
            created.append(values["code"])
    return created
