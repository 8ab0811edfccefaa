"""``manage.py seed_demo``: what a fresh installation needs to be usable.

Idempotent, run by ``make run`` after ``migrate``:

- the legal texts, loaded from ``guides/legal_texts/`` and published (version 1 on
  the first run; a new version only when a source changed; never a duplicate);
- with ``DEBUG`` on only, a demo staff superuser ``staff@mynetspace.test`` whose
  password is generated once and kept in ``VAR_DIR/keys/demo-staff-password``
  (mode 0600). The credentials are printed at the end. With ``DEBUG`` off the
  command refuses to create it and says so.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from audit import services as audit_services
from audit.context import RequestMeta
from guides.legal_sources import load_source
from guides.models import LegalDocument
from guides.services import SyncOutcome, legal_document_sync_from_source

DEMO_STAFF_EMAIL = "staff@mynetspace.test"


def demo_password_path() -> Path:
    return Path(settings.VAR_DIR) / "keys" / "demo-staff-password"


def demo_password() -> str:
    """The demo staff password, generated on first use and then read back."""
    path = demo_password_path()
    if path.is_file():
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(18)
    # Create with 0600 from the start: the secret is never readable by others.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    os.chmod(path, 0o600)
    return value


def demo_staff_ensure(*, password: str) -> tuple[object, str]:
    """Create (or repair) the demo staff superuser; returns (user, what was done)."""
    user_model = get_user_model()
    with transaction.atomic():
        user = user_model.objects.filter(email__iexact=DEMO_STAFF_EMAIL).first()
        if user is None:
            user = user_model.objects.create_superuser(email=DEMO_STAFF_EMAIL, password=password)
            action, outcome = "accounts.demo_staff_created", "created"
        elif user.check_password(password) and user.is_active and user.is_superuser:
            return user, "unchanged"
        else:
            user.set_password(password)
            user.is_active = user.is_staff = user.is_superuser = True
            user.save(update_fields=["password", "is_active", "is_staff", "is_superuser"])
            action, outcome = "accounts.demo_staff_reset", "reset"
        audit_services.record(
            action=action,
            target=user,
            data={"email": DEMO_STAFF_EMAIL, "reason": "seed_demo (DEBUG)"},
            meta=RequestMeta.system(),
        )
    return user, outcome


class Command(BaseCommand):
    help = "Load and publish the legal texts; in development, create the demo staff account."

    def handle(self, *args, **options) -> None:
        self._seed_legal_texts()
        self._seed_demo_staff()

    def _seed_legal_texts(self) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING("Textes légaux"))
        meta = RequestMeta.system()
        for kind in LegalDocument.Kind.values:
            result = legal_document_sync_from_source(source=load_source(kind), meta=meta)
            if result.outcome == SyncOutcome.PUBLISHED:
                self.stdout.write(f"  {kind}: version {result.version} publiée")
            elif result.outcome == SyncOutcome.DRAFT_PENDING:
                self.stdout.write(
                    self.style.WARNING(
                        f"  {kind}: la source a changé mais le brouillon contient des "
                        "modifications non publiées ; rien n'a été remplacé (publiez ou "
                        "annulez le brouillon dans l'administration, puis relancez)."
                    )
                )
            else:
                self.stdout.write(f"  {kind}: à jour (version {result.version})")

    def _seed_demo_staff(self) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING("Compte équipe de démonstration"))
        if not settings.DEBUG:
            self.stdout.write(
                self.style.WARNING(
                    "  DEBUG est désactivé : le compte équipe de démonstration n'est pas créé. "
                    "En production, créez les comptes de l'équipe avec "
                    "`manage.py createsuperuser` et la double authentification."
                )
            )
            return
        password = demo_password()
        _, outcome = demo_staff_ensure(password=password)
        labels = {"created": "créé", "reset": "réparé", "unchanged": "déjà présent"}
        self.stdout.write(f"  {DEMO_STAFF_EMAIL}: {labels[outcome]}")
        line = "=" * 68
        self.stdout.write(
            self.style.SUCCESS(
                f"\n{line}\n"
                "  IDENTIFIANTS DE DÉVELOPPEMENT (DEBUG seulement, jamais en production)\n"
                f"  Administration : {settings.SITE_URL}/admin/\n"
                f"  E-mail         : {DEMO_STAFF_EMAIL}\n"
                f"  Mot de passe   : {password}\n"
                f"  (conservé dans {demo_password_path()})\n"
                f"{line}"
            )
        )
