"""The production topology files agree with each other and with the settings.

No Docker engine is needed: the files are parsed and cross-checked, so that a
variable renamed in one place and not in another fails here, not on deploy day.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DJANGO_SERVICES = ("web", "worker", "beat")

#: What settings read but the app containers must not receive from .env: set by the
#: image, derived from REDIS_URL, or security defaults production must not weaken.
NOT_PASSED_TO_CONTAINERS = {
    "VAR_DIR",
    "STATIC_ROOT",
    "ENV_FILE",
    "CELERY_BROKER_URL",
    "CELERY_TASK_ALWAYS_EAGER",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
}


def documented_variables() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def settings_variables() -> set[str]:
    source = (ROOT / "mynetspace" / "settings.py").read_text()
    read = re.findall(r"\benv(?:\.\w+)?\(\s*\"([A-Z][A-Z0-9_]*)\"", source)
    tested = re.findall(r"\"([A-Z][A-Z0-9_]*)\" (?:not )?in env\b", source)
    return set(read) | set(tested)


def compose_variables() -> set[str]:
    lines = [
        line
        for line in (ROOT / "docker-compose.yml").read_text().splitlines()
        if not line.lstrip().startswith("#")
    ]
    return set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", "\n".join(lines)))


def container_variables(service: str) -> set[str]:
    return {entry.split("=", 1)[0] for entry in COMPOSE["services"][service]["environment"]}


def test_web_worker_and_beat_share_one_image_definition():
    base = COMPOSE["x-django"]
    raw = (ROOT / "docker-compose.yml").read_text()
    assert raw.count("<<: *django") == len(DJANGO_SERVICES)
    for name in DJANGO_SERVICES:
        service = COMPOSE["services"][name]
        extra = {k for k in service if k not in base or service[k] != base[k]}
        assert extra <= {"command", "healthcheck"}, (name, extra)
        assert "command" in extra


def test_commands_and_queues():
    services = COMPOSE["services"]
    assert "gunicorn mynetspace.wsgi:application" in services["web"]["command"]
    assert "check --deploy" in services["web"]["command"]
    worker = services["worker"]["command"]
    assert worker.startswith("celery -A mynetspace worker -Q default,email,scan,export")
    queues = set(re.search(r"-Q (\S+)", worker).group(1).split(","))
    declared = {getattr(queue, "name", queue) for queue in settings.CELERY_TASK_QUEUES}
    assert queues == declared
    assert services["beat"]["command"].startswith("celery -A mynetspace beat")


def test_the_whole_topology_is_there_with_healthchecks():
    services = COMPOSE["services"]
    assert {"postgres", "redis", "clamav", "minio", "caddy", *DJANGO_SERVICES} <= set(services)
    assert services["clamav"]["build"]["context"] == "deploy/clamav"
    dockerfile = (ROOT / "deploy/clamav/Dockerfile").read_text()
    assert "ARG CLAMAV_IMAGE=clamav/clamav:" in dockerfile
    assert "configure-clamd.sh /etc/clamav/clamd.conf" in dockerfile
    for name in ("web", "worker", "postgres", "redis", "minio"):
        assert services[name]["healthcheck"]["test"], name
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    # Only the proxy is reachable from outside.
    assert [name for name, s in services.items() if s.get("ports")] == ["caddy"]
    assert services["redis"]["command"].count("noeviction") == 1


def test_every_compose_variable_is_documented():
    missing = compose_variables() - documented_variables()
    assert not missing, f"add to .env.example: {sorted(missing)}"


def test_every_settings_variable_is_documented():
    variables = settings_variables()
    assert {"DATABASE_URL", "SECRET_KEY", "AUDIT_SIGNING_KEY", "TRUSTED_PROXIES"} <= variables
    missing = variables - documented_variables()
    assert not missing, f"add to .env.example: {sorted(missing)}"


def test_every_settings_variable_can_reach_the_application_containers():
    missing = settings_variables() - container_variables("web") - NOT_PASSED_TO_CONTAINERS
    assert not missing, f"add to the x-django environment of docker-compose.yml: {sorted(missing)}"


def test_owner_passwords_stay_out_of_the_application_containers():
    for secret in ("POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD"):
        assert secret not in container_variables("web")
        assert f"${{{secret}}}" not in str(COMPOSE["x-django"])


def test_caddy_placeholders_are_provided_and_the_body_is_capped():
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    placeholders = set(re.findall(r"\{\$([A-Z][A-Z0-9_]*)\}", caddyfile))
    provided = set(COMPOSE["services"]["caddy"]["environment"])
    assert placeholders <= provided
    assert re.search(r"max_size \{\$PROXY_MAX_BODY_MB\}MiB", caddyfile)
    assert "reverse_proxy web:8000" in caddyfile
    caddy_network = COMPOSE["services"]["caddy"]["networks"]["default"]
    assert caddy_network["ipv4_address"] == "${PROXY_IP}"
    assert "TRUSTED_PROXIES=${PROXY_IP}/32" in COMPOSE["x-django"]["environment"]


def test_dockerfile_runs_unprivileged_from_the_lock_file():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, flags=re.MULTILINE)
    assert "-c requirements.lock" in dockerfile
    assert "collectstatic --no-input" in dockerfile
    users = re.findall(r"^USER (\S+)", dockerfile, flags=re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}
    assert "gunicorn" in dockerfile


@pytest.mark.parametrize("path", ["deploy/postgres/10-app-role.sh", ".ci/run"])
def test_scripts_are_executable(path):
    assert os.access(ROOT / path, os.X_OK)


def test_the_clamd_configuration_script_sets_the_limits_clamd_reads(tmp_path):
    """GIVEN Debian's clamd.conf, which sets its own limits and leaves AlertExceedsMax
    off WHEN deploy/clamav/configure-clamd.sh runs on a copy THEN clamd's own reading
    of the file (clamconf) has AlertExceedsMax on and the vault's limits."""
    import shutil
    import subprocess

    from tests.conftest import require_service

    clamconf = shutil.which("clamconf")
    require_service("clamconf", clamconf is not None, "apt-get install clamav-daemon")
    debian = Path("/etc/clamav/clamd.conf")
    conf = tmp_path / "clamd.conf"
    conf.write_text(
        debian.read_text()
        if debian.exists()
        else "MaxFileSize 25M\nStreamMaxLength 25M\nAlertExceedsMax no\n"
    )
    (tmp_path / "freshclam.conf").write_text(f"DatabaseDirectory {tmp_path}\n")
    script = ROOT / "deploy/clamav/configure-clamd.sh"
    subprocess.run(["sh", str(script), str(conf), "210"], check=True)
    subprocess.run(["sh", str(script), str(conf), "210"], check=True)  # idempotent
    shown = subprocess.run(
        [clamconf, "-c", str(tmp_path)], capture_output=True, text=True, check=True
    ).stdout
    assert 'AlertExceedsMax = "yes"' in shown or "AlertExceedsMax enabled" in shown
    assert f'StreamMaxLength = "{210 * 1024 * 1024}"' in shown
    assert f'MaxFileSize = "{210 * 1024 * 1024}"' in shown
    assert f'MaxScanSize = "{840 * 1024 * 1024}"' in shown
    refused = subprocess.run(["sh", str(script), str(conf), "25M"], capture_output=True)
    assert refused.returncode == 2
