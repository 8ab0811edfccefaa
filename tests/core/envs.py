"""Environments for running ``manage.py`` in a subprocess, as an operator would.

Settings are read once, at start-up, from the environment: the only faithful way to
test them is a fresh interpreter with a controlled environment. ``ENV_FILE=""``
keeps a developer's own ``.env`` out of it.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]


def clean_env(var_dir: Path, **extra: str) -> dict[str, str]:
    """Nothing set but what a shell always has, and a private VAR_DIR."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "ENV_FILE": "",
        "VAR_DIR": str(var_dir),
        "DJANGO_SETTINGS_MODULE": "mynetspace.settings",
    }
    env.update(extra)
    return env


def production_env(var_dir: Path, **overrides: str) -> dict[str, str]:
    """A complete production environment (services need not be reachable for checks)."""
    env = clean_env(
        var_dir,
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        AUDIT_SIGNING_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
        ENCRYPTION_KEYS="k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        DATABASE_URL="postgres://mynetspace:s3cret@db.internal:5432/mynetspace",
        REDIS_URL="redis://redis.internal:6379/0",
        EMAIL_URL="smtp+tls://mailer:s3cret@smtp.example.com:587",
        ALLOWED_HOSTS="mynetspace.example",
        SITE_URL="https://mynetspace.example",
        TRUSTED_PROXIES="192.0.2.10",
        CLAMD_URL="tcp://clamav.internal:3310",
        PAYMENT_PROVIDER="stripe",
        STRIPE_SECRET_KEY="sk_live_" + secrets.token_urlsafe(24),
        STRIPE_WEBHOOK_SECRET="whsec_" + secrets.token_urlsafe(24),
        STRIPE_PRICES="mensuel=price_monthly_example,annuel=price_yearly_example",
    )
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def manage(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), *args],
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


SETTINGS_DUMP = """
import json, django
django.setup()
from django.conf import settings as s
names = json.loads(__import__("sys").argv[1])
out = {}
for name in names:
    value = getattr(s, name, None)
    out[name] = json.loads(json.dumps(value, default=str))
print(json.dumps(out))
"""


def read_settings(env: dict[str, str], *names: str) -> dict:
    """The values of ``names`` as a fresh process with ``env`` computes them."""
    result = subprocess.run(
        [sys.executable, "-c", SETTINGS_DUMP, json.dumps(names)],
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"settings failed to load:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])
