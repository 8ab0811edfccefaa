"""The customer's own trail ("Mon journal"): plain-language sentences for evidence events.

Registries (filled at import time, here for the accounts events and by each app in
its ``AppConfig.ready()`` for its own):

- :func:`register_kind` (``prefix``, ``label``): the families the page filters on.
  The prefix is the first part of the action name (``auth`` for ``auth.login``).
- :func:`register_describer` (``prefix_or_action``, ``func(event) -> str``): turns
  one event into a sentence. An exact action wins over a prefix, and a longer prefix
  over a shorter one; unknown actions get :func:`describe_generic`. A describer
  that raises is logged and replaced by the generic sentence, so one bad describer
  never breaks the page.

Selectors: :func:`journal_page` (keyset pagination on ``seq``: one query whatever
the length of the chain) and :func:`chain_verify_incremental` (verifies only the
events appended since the last visit, see its docstring).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from django.core.signals import setting_changed
from django.db import connection, transaction
from django.dispatch import receiver
from django.utils import formats, timezone
from django.utils.translation import get_language, gettext, gettext_lazy

from audit.hashing import GENESIS_HASH, chain_hash, event_body
from audit.models import Event
from audit.services import chain_key_for, record

from . import sql
from .models import ChainVerification, Consent

logger = logging.getLogger(__name__)

Describer = Callable[[Event], str]

#: Events shown per page of the journal.
PAGE_SIZE = 20

_KINDS: dict[str, object] = {}
_DESCRIBERS: dict[str, Describer] = {}


def _(message: str) -> str:
    """``gettext``, remembered per language: a page of twenty entries asks for the same
    few phrases (« le … à … », « depuis … », the sentences' heads) again and again."""
    return _translated(message, get_language())


@functools.lru_cache(maxsize=1024)
def _translated(message: str, language: str | None) -> str:
    return gettext(message)


@receiver(setting_changed)
def _forget_translations(*, setting: str, **kwargs) -> None:
    # The catalogues Django loads change with these settings (in tests).
    if setting in {"LANGUAGES", "LANGUAGE_CODE", "LOCALE_PATHS", "INSTALLED_APPS"}:
        _translated.cache_clear()


# --- Registries ------------------------------------------------------------------------


def register_kind(prefix: str, label) -> None:
    """Declare a family of actions (``prefix`` = first dotted part) and its label."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", prefix):
        raise ValueError(f"invalid kind prefix {prefix!r}")
    _KINDS[prefix] = label


def register_describer(prefix_or_action: str, func: Describer) -> None:
    """Describe events whose action is ``prefix_or_action`` or starts with it plus a dot."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*", prefix_or_action):
        raise ValueError(f"invalid action or prefix {prefix_or_action!r}")
    _DESCRIBERS[prefix_or_action] = func


def kinds() -> list[tuple[str, str]]:
    """``(prefix, label)`` of every registered kind, in registration order."""
    return [(prefix, str(label)) for prefix, label in _KINDS.items()]


def kind_of(action: str) -> str:
    prefix = action.split(".", 1)[0]
    return prefix if prefix in _KINDS else ""


def kind_label(action: str) -> str:
    prefix = kind_of(action)
    return str(_KINDS[prefix]) if prefix else _("Autre")


def describer_for(action: str) -> Describer:
    name = action
    while name:
        func = _DESCRIBERS.get(name)
        if func is not None:
            return func
        name = name.rpartition(".")[0]
    return describe_generic


def describe(event: Event) -> str:
    func = describer_for(event.action)
    try:
        text = func(event)
    except Exception:
        logger.exception("journal describer for %s failed on event %s", event.action, event.pk)
        return describe_generic(event)
    return str(text) if text else describe_generic(event)


# --- Sentence helpers ----------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _date_text(day: date, language: str) -> str:
    # A page shows many events of the same days: format each day once per language.
    return formats.date_format(day, "j F Y")


def when(moment: datetime) -> str:
    """« le 26 novembre 2026 à 10:42 », in the current time zone and language."""
    local = timezone.localtime(moment)
    return _("le %(date)s à %(time)s") % {
        "date": _date_text(local.date(), get_language() or ""),
        "time": f"{local:%H:%M}",
    }


# The first rule that matches wins; order matters because browsers quote each other
# (Edge and Opera say "Chrome", Chrome says "Safari", iOS browsers say "Mobile Safari").
_BROWSERS = (
    ("Edg", "Edge"),
    ("OPR/", "Opera"),
    ("Opera", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Version/", "Safari"),
)
_SYSTEMS = (
    ("Windows", "Windows"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Macintosh", "macOS"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


@functools.lru_cache(maxsize=256)
def _user_agent_parts(user_agent: str) -> tuple[str, str]:
    browser = next((name for token, name in _BROWSERS if token in user_agent), "")
    if browser == "Safari" and "Safari/" not in user_agent:
        browser = ""
    system = next((name for token, name in _SYSTEMS if token in user_agent), "")
    return browser, system


def user_agent_summary(user_agent: str) -> str:
    """« Firefox sur Linux » from a User-Agent header; empty when nothing is recognised.

    A few substring rules (no external service, no database of agents): good enough
    for a person to recognise their own devices, which is all the journal needs.
    """
    browser, system = _user_agent_parts(user_agent)
    if browser and system:
        return _("%(browser)s sur %(system)s") % {"browser": browser, "system": system}
    return browser or system


def _origin(event: Event) -> str:
    """« depuis Firefox sur Linux, adresse IP 203.0.113.5, » (parts omitted when unknown)."""
    parts = []
    device = user_agent_summary(event.user_agent)
    if device:
        parts.append(_("depuis %(device)s") % {"device": device})
    if event.ip:
        parts.append(_("adresse IP %(ip)s") % {"ip": event.ip})
    return ", ".join(parts)


def sentence(head: str, event: Event, *, with_origin: bool = True) -> str:
    """« <head> depuis Firefox sur Linux, adresse IP …, le 26 novembre 2026 à 10:42 »."""
    origin = _origin(event) if with_origin else ""
    pieces = [head]
    if origin:
        pieces.append(" " + origin + ",")
    pieces.append(" " + when(event.occurred_at))
    return "".join(pieces)


def _text(event: Event, key: str) -> str:
    value = event.data.get(key) if isinstance(event.data, dict) else None
    return value if isinstance(value, str) else ""


def describe_generic(event: Event) -> str:
    return _("Opération enregistrée (%(action)s), %(when)s") % {
        "action": event.action,
        "when": when(event.occurred_at),
    }


# --- Accounts' own events ------------------------------------------------------------------

_MFA_TYPES = {
    "totp": gettext_lazy("application d'authentification"),
    "webauthn": gettext_lazy("clé d'accès"),
    "recovery_codes": gettext_lazy("codes de secours"),
}


def _simple(head) -> Describer:
    return lambda event: sentence(str(head), event)


def _with_email(template) -> Describer:
    def describe_email_change(event: Event) -> str:
        email = _text(event, "email")
        if email:
            return sentence(str(template) % {"email": email}, event)
        return sentence(str(template).replace(" %(email)s", ""), event)

    return describe_email_change


def _describe_mfa(head) -> Describer:
    def describe_mfa(event: Event) -> str:
        label = _MFA_TYPES.get(_text(event, "type"))
        text = str(head)
        if label:
            text = f"{text} ({label})"
        return sentence(text, event)

    return describe_mfa


def _flag(event: Event, key: str) -> bool:
    return isinstance(event.data, dict) and event.data.get(key) is True


def _describe_login(event: Event) -> str:
    method = _text(event, "method")
    if method == "passkey":
        text = _("Connexion avec une clé d'accès")
    elif method == "password_reset":
        text = _("Connexion après la réinitialisation de votre mot de passe")
    elif _flag(event, "mfa"):
        label = _MFA_TYPES.get(_text(event, "mfa_type"))
        text = (
            _("Connexion avec double authentification (%(type)s)") % {"type": label}
            if label
            else _("Connexion avec double authentification")
        )
    else:
        text = _("Connexion")
    return sentence(text, event)


def _describe_login_failed(event: Event) -> str:
    if _flag(event, "reauthentication"):
        text = _("Confirmation d'identité refusée")
    elif _text(event, "method") == "mfa":
        text = _("Code de double authentification refusé")
    else:
        text = _("Tentative de connexion refusée")
    return sentence(text, event)


def _describe_password_changed(event: Event) -> str:
    if _flag(event, "first"):
        return sentence(_("Choix de votre mot de passe"), event)
    return sentence(_("Changement de votre mot de passe"), event)


def _describe_recovery_code(event: Event) -> str:
    if _flag(event, "reauthentication"):
        return sentence(_("Confirmation d'identité avec un code de secours"), event)
    return sentence(_("Connexion avec un code de secours"), event)


def _describe_session_ended(event: Event) -> str:
    ip = _text(event, "ip")
    if ip:
        text = _("Fin d'une autre session ouverte (adresse IP %(ip)s)") % {"ip": ip}
    else:
        text = _("Fin d'une autre session ouverte")
    return sentence(text, event)


def _describe_primary_changed(event: Event) -> str:
    new = _text(event, "to") or _text(event, "email")
    old = _text(event, "from")
    if new and old:
        text = _("Nouvelle adresse e-mail principale %(new)s (au lieu de %(old)s)") % {
            "new": new,
            "old": old,
        }
    elif new:
        text = _("Nouvelle adresse e-mail principale %(new)s") % {"new": new}
    else:
        text = _("Changement de votre adresse e-mail principale")
    return sentence(text, event)


def _describe_consent(event: Event) -> str:
    purpose = _text(event, "purpose")
    try:
        label = Consent.Purpose(purpose).label
    except ValueError:
        label = purpose or _("une finalité")
    version = event.data.get("version") if isinstance(event.data, dict) else None
    if event.action == "consent.withdrawn":
        text = _("Retrait de votre consentement : %(what)s") % {"what": label}
    elif isinstance(version, int) and not isinstance(version, bool):
        text = _("Acceptation : %(what)s, version %(version)s") % {
            "what": label,
            "version": version,
        }
    else:
        text = _("Acceptation : %(what)s") % {"what": label}
    return sentence(text, event)


def _describe_profile(event: Event) -> str:
    fields = event.data.get("fields") if isinstance(event.data, dict) else None
    if isinstance(fields, list) and fields and all(isinstance(f, str) for f in fields):
        return sentence(
            _("Modification de votre profil (%(fields)s)") % {"fields": ", ".join(fields)},
            event,
        )
    return sentence(_("Modification de votre profil"), event)


def _describe_email_queued(event: Event) -> str:
    subject = _text(event, "subject")
    if subject:
        text = _("Nous vous avons écrit : « %(subject)s »") % {"subject": subject}
    else:
        text = _("Nous vous avons écrit un e-mail")
    return sentence(text, event, with_origin=False)


def _describe_email_sent(event: Event) -> str:
    return sentence(
        _("Notre e-mail a été remis au serveur de messagerie"), event, with_origin=False
    )


def _describe_email_failed(event: Event) -> str:
    return sentence(
        _("Notre e-mail n'a pas pu être envoyé, une nouvelle tentative aura lieu"),
        event,
        with_origin=False,
    )


def _describe_email_received(event: Event) -> str:
    subject = _text(event, "subject")
    if subject:
        text = _("Nous avons reçu votre e-mail « %(subject)s »") % {"subject": subject}
    else:
        text = _("Nous avons reçu un e-mail de votre part")
    return sentence(text, event, with_origin=False)


def _register_accounts_events() -> None:
    register_kind("auth", gettext_lazy("Sécurité et connexions"))
    register_kind("consent", gettext_lazy("Consentements"))
    register_kind("profile", gettext_lazy("Profil"))
    register_kind("email", gettext_lazy("E-mails reçus de notre part"))
    register_kind("account", gettext_lazy("Export et fermeture du compte"))

    simple = {
        "auth.signup": gettext_lazy("Création de votre compte"),
        "auth.logout": gettext_lazy("Déconnexion"),
        "auth.password_reset": gettext_lazy("Réinitialisation de votre mot de passe"),
        "auth.mfa_recovery_codes_regenerated": gettext_lazy(
            "Création de nouveaux codes de secours"
        ),
        "auth.staff_idle_logout": gettext_lazy("Déconnexion automatique après inactivité"),
        "account.export_downloaded": gettext_lazy("Téléchargement de l'export de vos données"),
        "account.closed": gettext_lazy("Fermeture de votre compte"),
    }
    for action, head in simple.items():
        register_describer(action, _simple(head))
    register_describer("auth.login", _describe_login)
    register_describer("auth.login_failed", _describe_login_failed)
    register_describer("auth.password_changed", _describe_password_changed)
    register_describer("auth.mfa_recovery_code_used", _describe_recovery_code)
    register_describer("auth.session_ended", _describe_session_ended)
    register_describer("auth.email_primary_changed", _describe_primary_changed)
    register_describer(
        "auth.email_added", _with_email(gettext_lazy("Ajout de l'adresse %(email)s"))
    )
    register_describer(
        "auth.email_confirmed", _with_email(gettext_lazy("Confirmation de l'adresse %(email)s"))
    )
    register_describer(
        "auth.email_removed", _with_email(gettext_lazy("Retrait de l'adresse %(email)s"))
    )
    register_describer(
        "auth.mfa_activated",
        _describe_mfa(gettext_lazy("Activation de la double authentification")),
    )
    register_describer(
        "auth.mfa_deactivated",
        _describe_mfa(gettext_lazy("Désactivation de la double authentification")),
    )
    register_describer("consent", _describe_consent)
    register_describer("profile.updated", _describe_profile)
    register_describer("email.queued", _describe_email_queued)
    register_describer("email.sent", _describe_email_sent)
    register_describer("email.failed", _describe_email_failed)
    register_describer("email.requeued", _describe_email_failed)
    register_describer("email.received", _describe_email_received)
    register_describer(
        "account.pseudonymised",
        lambda event: sentence(
            _("Effacement des données personnelles de votre compte"), event, with_origin=False
        ),
    )


_register_accounts_events()


# --- Selectors ----------------------------------------------------------------------------------


@dataclass
class JournalEntry:
    event: Event
    text: str
    kind: str
    #: « Sécurité et connexions · action de votre part · événement n° 12 »
    meta: str

    @property
    def iso_time(self) -> str:
        return self.event.occurred_at.isoformat()


_ACTOR_LABELS = {
    Event.ActorType.USER: gettext_lazy("action de votre part"),
    Event.ActorType.STAFF: gettext_lazy("action de notre équipe"),
    Event.ActorType.SYSTEM: gettext_lazy("opération automatique"),
}


def _entry(event: Event, actor_labels: dict[str, str], number_text: str) -> JournalEntry:
    actor = actor_labels.get(event.actor_type, "")
    parts = [kind_label(event.action), actor, number_text % {"number": event.seq}]
    return JournalEntry(
        event=event,
        text=describe(event),
        kind=kind_of(event.action),
        meta=" · ".join(part for part in parts if part),
    )


@dataclass
class JournalPage:
    entries: list[JournalEntry]
    older_cursor: int | None = None
    newer_cursor: int | None = None


def _int_or_none(value) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**63 else None


def _page_rows(chain_key: str, *, kind: str, before, after, limit: int) -> list[Event]:
    """Up to ``limit`` events of one chain: after ``after`` oldest first, else newest first
    (before ``before`` when given), of one ``kind`` when given.

    In SQL over the model's columns (accounts.sql): compiling the equivalent queryset
    cost more than running it, on every visit of the journal. ``kind`` is a registered
    prefix; it is compared as a parameter, never written into the SQL.
    """
    conditions, params = ["chain_key = %s"], [chain_key]
    if kind:
        conditions.append("substr(action, 1, %s) = %s")
        params += [len(kind) + 1, f"{kind}."]
    if after is not None:
        conditions.append("seq > %s")
        params.append(after)
    if before is not None:
        conditions.append("seq < %s")
        params.append(before)
    order = "seq" if after is not None else "seq DESC"
    where = " AND ".join(conditions)
    columns = sql.model_columns(Event)
    statement = f"SELECT {columns} FROM audit_event WHERE {where} ORDER BY {order} LIMIT %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(statement, [*params, limit])
        rows = cursor.fetchall()
    return [sql.instance_from_row(Event, row) for row in rows]


def journal_page(
    *,
    user,
    kind: str = "",
    before=None,
    after=None,
    page_size: int = PAGE_SIZE,
) -> JournalPage:
    """One page of ``user``'s own chain, newest first, in one query.

    ``before`` / ``after`` are ``seq`` cursors (from the previous page's links); bad
    values are ignored and give the first page. ``kind`` must be a registered prefix
    (the view checks it); an empty kind shows everything.
    """
    before, after = _int_or_none(before), _int_or_none(after)
    forward = after is not None and before is None
    rows = _page_rows(
        chain_key_for(user),
        kind=kind,
        before=None if forward else before,
        after=after if forward else None,
        limit=page_size + 1,
    )
    if forward:
        has_newer = len(rows) > page_size
        rows = rows[:page_size][::-1]
        has_older = True
    else:
        has_older = len(rows) > page_size
        rows = rows[:page_size]
        has_newer = before is not None
    # Labels shared by every entry are translated once per page.
    actor_labels = {actor: str(label) for actor, label in _ACTOR_LABELS.items()}
    number_text = _("événement n° %(number)s")
    entries = [_entry(event, actor_labels, number_text) for event in rows]
    return JournalPage(
        entries=entries,
        older_cursor=rows[-1].seq if rows and has_older else None,
        newer_cursor=rows[0].seq if rows and has_newer else None,
    )


# --- Incremental verification of one chain --------------------------------------------------

_COLUMNS = (
    "seq",
    "prev_hash",
    "hash",
    "action",
    "actor_id",
    "actor_type",
    "data",
    "ip",
    "occurred_at",
    "on_behalf_of_id",
    "request_id",
    "target_id",
    "target_type",
    "user_agent",
)


#: Above this many events to verify, rows are streamed rather than fetched at once.
_STREAM_ABOVE = 2000


@dataclass
class ChainStatus:
    """What the journal page says about the chain."""

    ok: bool
    length: int
    checked_at: datetime
    problem: str = ""
    broken_seq: int | None = None
    newly_verified: int = 0


def _verify_from(chain_key: str, *, anchor_seq: int, anchor_hash: str, length: int, head: str):
    """Check events ``anchor_seq..length`` of one chain; returns (problem, seq, count).

    One query, streamed when the stretch is long (the first visit of a long chain).
    """
    rows = (
        Event.objects.filter(chain_key=chain_key, seq__gte=max(anchor_seq, 1), seq__lte=length)
        .order_by("seq")
        .values_list(*_COLUMNS)
    )
    if length - anchor_seq > _STREAM_ABOVE:
        # A long unverified stretch (first visit of a long chain) is streamed; the
        # usual case (a few new events) is one plain fetch.
        rows = rows.iterator(chunk_size=_STREAM_ABOVE)
    return _check_rows(
        chain_key, rows, anchor_seq=anchor_seq, anchor_hash=anchor_hash, length=length, head=head
    )


def _check_rows(chain_key: str, rows, *, anchor_seq: int, anchor_hash: str, length: int, head: str):
    """Check ``rows`` (``_COLUMNS``, by ``seq``) as events ``anchor_seq..length``.

    The anchor (the last event verified before) must still carry the hash verified
    then and match it; every later event must follow the previous one and match its own hash; the
    last one must be the head row. Returns (problem, seq, count).
    """
    expected_seq = anchor_seq + 1
    prev = anchor_hash
    count = 0
    anchor_seen = anchor_seq == 0
    for (seq, prev_hash, stored, action, actor_id, actor_type, data, ip, occurred_at,
         on_behalf_of_id, request_id, target_id, target_type, user_agent) in rows:  # fmt: skip
        body = event_body(
            chain_key=chain_key, seq=seq, occurred_at=occurred_at, actor_type=actor_type,
            actor_id=actor_id, on_behalf_of_id=on_behalf_of_id, action=action,
            target_type=target_type, target_id=target_id, data=data, ip=ip,
            user_agent=user_agent, request_id=request_id,
        )  # fmt: skip
        try:
            computed = chain_hash(prev_hash, body)
        except ValueError:
            computed = ""
        if not anchor_seen:
            # The anchor is re-hashed too: its stored hash alone would not show a
            # change of its content.
            if seq != anchor_seq or stored != anchor_hash or computed != stored:
                return "the last verified event has changed", anchor_seq, count
            anchor_seen = True
            continue
        if seq != expected_seq:
            return "events are missing", expected_seq, count
        if prev_hash != prev:
            return "not linked to the previous event", seq, count
        if computed != stored:
            return "stored content does not match its hash", seq, count
        prev = stored
        expected_seq = seq + 1
        count += 1
    if not anchor_seen:
        return "the last verified event is missing", anchor_seq, count
    if expected_seq - 1 != length:
        return "events named by the head are missing", expected_seq, count
    if prev != head:
        return "the head does not match the last event", length, count
    return "", None, count


@dataclass(frozen=True)
class _State:
    verified_seq: int
    verified_hash: str
    broken_seq: int | None
    problem: str


#: The head row, the verification state and the events from the anchor to the head,
#: in one statement. The events come only when a state exists, is not broken and at
#: most ``_STREAM_ABOVE`` events were appended since (``e.seq >= verified_seq`` also
#: holds for a state at 0, as every ``seq`` is at least 1).
_HEAD_STATE_EVENTS_SQL = (
    "SELECT c.length, c.head_hash, v.verified_seq, v.verified_hash, v.broken_seq, v.problem,"
    # The columns of _COLUMNS, in their order.
    " e.seq, e.prev_hash, e.hash, e.action, e.actor_id, e.actor_type, e.data, e.ip,"
    " e.occurred_at, e.on_behalf_of_id, e.request_id, e.target_id, e.target_type, e.user_agent"
    " FROM (SELECT CAST(%s AS varchar(64)) AS k) q"
    " LEFT JOIN audit_chain c ON c.key = q.k"
    " LEFT JOIN accounts_chainverification v ON v.chain_key = q.k"
    " LEFT JOIN audit_event e ON e.chain_key = q.k AND v.broken_seq IS NULL"
    " AND e.seq >= v.verified_seq AND e.seq <= c.length AND c.length - v.verified_seq <= %s"
    " ORDER BY e.seq"
)


def _head_state_and_events(chain_key: str):
    """The chain's head ``(length, hash)``, its verification state, and the events to check.

    One query (plain SQL: this runs on every visit of the journal, and building the
    equivalent ORM queries cost more than running them). The events, as ``_COLUMNS``
    tuples from the anchor to the head, are None when the query could not include them
    (no state yet, a broken one, or a long stretch to stream): the caller reads them then.
    """
    with connection.cursor() as cursor:
        cursor.execute(_HEAD_STATE_EVENTS_SQL, [chain_key, _STREAM_ABOVE])
        rows = cursor.fetchall()
    length, head_hash, seq, digest, broken_seq, problem = rows[0][:6]
    head = (length or 0, head_hash or GENESIS_HASH)
    if seq is None:
        return head, None, None
    state = _State(seq, digest, broken_seq, problem or "")
    if broken_seq is not None or head[0] < seq or head[0] - seq > _STREAM_ABOVE:
        return head, state, None
    events = [sql.convert_row(Event, _COLUMNS, row[6:]) for row in rows if row[6] is not None]
    return head, state, events


def chain_verify_incremental(*, user) -> ChainStatus:
    """Verify ``user``'s chain, reading only what was appended since the last check.

    State per chain lives in :class:`~accounts.models.ChainVerification` (last
    verified ``seq`` and hash). Each call re-reads the head row, re-hashes the last
    verified event (the anchor) and checks it still has the hash recorded then,
    verifies every later event up to the head (links and hashes) and that the head
    matches the last event. Events before the anchor are not re-read: the
    append-only triggers protect them and ``manage.py audit_verify`` checks every
    event end to end.

    Costs a fixed number of queries whatever the chain's length: one query for the
    head, the state and the events from the anchor once the state exists (a second
    one streams them on the first visit, or after more than ``_STREAM_ABOVE`` new
    events), and one upsert when something new was verified. A problem is logged,
    recorded once as ``audit.chain_verification_failed`` on the system chain, and
    kept until an operator deletes the state row after investigating.
    """
    chain_key = chain_key_for(user)
    now = timezone.now()
    (length, head_hash), state, events = _head_state_and_events(chain_key)
    if state is not None and state.broken_seq is not None:
        return ChainStatus(
            ok=False,
            length=length,
            checked_at=now,
            problem=state.problem,
            broken_seq=state.broken_seq,
        )
    anchor_seq = state.verified_seq if state is not None else 0
    anchor_hash = state.verified_hash if state is not None else GENESIS_HASH
    if length < anchor_seq:
        problem, seq, count = "the chain is shorter than when last verified", length + 1, 0
    elif events is not None:
        problem, seq, count = _check_rows(
            chain_key, events, anchor_seq=anchor_seq, anchor_hash=anchor_hash, length=length,
            head=head_hash,
        )  # fmt: skip
    else:
        problem, seq, count = _verify_from(
            chain_key, anchor_seq=anchor_seq, anchor_hash=anchor_hash, length=length, head=head_hash
        )
    if problem:
        _record_broken(chain_key=chain_key, seq=seq, problem=problem, state=state, now=now)
        return ChainStatus(ok=False, length=length, checked_at=now, problem=problem, broken_seq=seq)
    if count or state is None:
        ChainVerification.objects.bulk_create(
            [
                ChainVerification(
                    chain_key=chain_key,
                    verified_seq=length,
                    verified_hash=head_hash,
                    verified_at=now,
                )
            ],
            update_conflicts=True,
            unique_fields=["chain_key"],
            update_fields=["verified_seq", "verified_hash", "verified_at"],
        )
    return ChainStatus(ok=True, length=length, checked_at=now, newly_verified=count)


def _record_broken(*, chain_key: str, seq: int, problem: str, state, now) -> None:
    logger.error("chain %s does not verify at seq %s: %s", chain_key, seq, problem)
    with transaction.atomic():
        ChainVerification.objects.update_or_create(
            chain_key=chain_key,
            defaults={
                "broken_seq": seq,
                "problem": problem[:300],
                "verified_at": now,
                **({} if state is not None else {"verified_seq": 0, "verified_hash": GENESIS_HASH}),
            },
        )
        record(
            action="audit.chain_verification_failed",
            data={"chain_key": chain_key, "seq": seq, "problem": problem},
        )
