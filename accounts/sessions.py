"""Database sessions (``SESSION_ENGINE = "accounts.sessions"``), read without the ORM.

Exactly Django's database backend (``django.contrib.sessions.backends.db``), of which
this is a subclass: same ``django_session`` table, same rows, same expiry rule, same
writes. Only the read that every request of a logged-in person makes is one fixed
SQL statement instead of a queryset, whose compilation cost more than the query on
every page (benchmarks/bench_accounts.py, docs/decisions.md "Session reads").
"""

from __future__ import annotations

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone

_READ_SQL = "SELECT session_data FROM django_session WHERE session_key = %s AND expire_date > %s"


class SessionStore(db.SessionStore):
    def load(self):
        data = self._session_data_from_db()
        if data is None:
            # As the parent class does for a missing or expired session.
            self._session_key = None
            return {}
        return self.decode(data)

    def _session_data_from_db(self) -> str | None:
        """The stored data of this unexpired session, or None; what ``load()`` of the
        database backend reads through ``Session.objects.get()``."""
        connection = connections[router.db_for_read(self.model)]
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(_READ_SQL, [self.session_key, now])
            row = cursor.fetchone()
        return None if row is None else row[0]
