"""Settings as an operator meets them: nothing set, or a production environment."""

from __future__ import annotations

import stat

from tests.core.envs import clean_env, manage, production_env, read_settings


def test_nothing_set_gives_the_embedded_setup(tmp_path):
    values = read_settings(
        clean_env(tmp_path),
        "DEBUG",
        "DATABASES",
        "CACHES",
        "CELERY_BROKER_URL",
        "CELERY_TASK_ALWAYS_EAGER",
        "EMAIL_BACKEND",
        "MEDIA_ROOT",
        "SECRET_KEY_GENERATED",
        "AUDIT_SIGNING_KEY_GENERATED",
        "SECURE_PROXY_SSL_HEADER",
        "SECURE_SSL_REDIRECT",
    )

    assert values["DEBUG"] is True
    assert values["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert values["DATABASES"]["default"]["NAME"] == str(tmp_path / "db.sqlite3")
    assert values["MEDIA_ROOT"] == str(tmp_path / "media")
    assert values["CACHES"]["default"]["BACKEND"].endswith("LocMemCache")
    assert values["CELERY_BROKER_URL"] == "memory://"
    assert values["CELERY_TASK_ALWAYS_EAGER"] is True
    assert values["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    assert values["SECRET_KEY_GENERATED"] is True
    assert values["AUDIT_SIGNING_KEY_GENERATED"] is True
    assert values["SECURE_PROXY_SSL_HEADER"] is None
    assert values["SECURE_SSL_REDIRECT"] is False


def test_development_keys_are_generated_private_and_reused(tmp_path):
    """GIVEN no keys in the environment
    WHEN the settings load twice
    THEN both keys are written once under VAR_DIR/keys, readable by the owner only,
    and the second start reuses them (a developer's data stays readable)."""
    env = clean_env(tmp_path)
    first = read_settings(env, "SECRET_KEY", "AUDIT_SIGNING_KEY")
    second = read_settings(env, "SECRET_KEY", "AUDIT_SIGNING_KEY")

    assert first == second
    for name in ("django-secret-key", "audit-signing-key"):
        path = tmp_path / "keys" / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first["SECRET_KEY"]) >= 50


def test_production_environment(tmp_path):
    values = read_settings(
        production_env(tmp_path),
        "DEBUG",
        "DATABASES",
        "CACHES",
        "CELERY_BROKER_URL",
        "CELERY_TASK_ALWAYS_EAGER",
        "EMAIL_BACKEND",
        "EMAIL_HOST",
        "EMAIL_PORT",
        "EMAIL_USE_TLS",
        "ALLOWED_HOSTS",
        "SECRET_KEY_GENERATED",
        "AUDIT_SIGNING_KEY_GENERATED",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_PROXY_SSL_HEADER",
        "STORAGES",
    )

    assert values["DEBUG"] is False
    database = values["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert database["HOST"] == "db.internal"
    assert database["OPTIONS"]["connect_timeout"] == 5
    assert database["OPTIONS"]["prepare_threshold"] == 5
    assert database["CONN_HEALTH_CHECKS"] is True
    assert values["CACHES"]["default"]["BACKEND"] == "mynetspace.core.cache.ResilientRedisCache"
    assert values["CACHES"]["default"]["LOCATION"] == "redis://redis.internal:6379/0"
    assert values["CELERY_BROKER_URL"] == "redis://redis.internal:6379/0"
    assert values["CELERY_TASK_ALWAYS_EAGER"] is False
    assert values["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (values["EMAIL_HOST"], values["EMAIL_PORT"], values["EMAIL_USE_TLS"]) == (
        "smtp.example.com",
        587,
        True,
    )
    assert values["ALLOWED_HOSTS"] == ["mynetspace.example"]
    assert values["SECRET_KEY_GENERATED"] is False
    assert values["AUDIT_SIGNING_KEY_GENERATED"] is False
    assert not (tmp_path / "keys").exists(), "no development key may be written in production"
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] == 31_536_000
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["STORAGES"]["staticfiles"]["BACKEND"].endswith(
        "CompressedManifestStaticFilesStorage"
    )
    assert values["STORAGES"]["default"]["BACKEND"].endswith("FileSystemStorage")


def test_prepared_statements_can_be_turned_off_for_a_connection_pooler(tmp_path):
    """GIVEN DATABASE_PREPARED_STATEMENTS=false (a PgBouncer in transaction mode) THEN
    the settings leave Django's default: psycopg prepares nothing."""
    env = production_env(tmp_path) | {"DATABASE_PREPARED_STATEMENTS": "false"}
    options = read_settings(env, "DATABASES")["DATABASES"]["default"]["OPTIONS"]
    assert "prepare_threshold" not in options


def test_proxy_ssl_header_is_believed_only_with_trusted_proxies(tmp_path):
    values = read_settings(
        production_env(tmp_path, TRUSTED_PROXIES=None), "SECURE_PROXY_SSL_HEADER"
    )
    assert values["SECURE_PROXY_SSL_HEADER"] is None


def test_object_store_when_a_bucket_is_set(tmp_path):
    values = read_settings(
        production_env(
            tmp_path,
            S3_BUCKET="documents",
            S3_ENDPOINT_URL="http://minio:9000",
            S3_ACCESS_KEY_ID="mynetspace",
            S3_SECRET_ACCESS_KEY="s3cret-s3cret",
        ),
        "STORAGES",
    )
    default = values["STORAGES"]["default"]
    assert default["BACKEND"] == "storages.backends.s3.S3Storage"
    assert default["OPTIONS"]["bucket_name"] == "documents"
    assert default["OPTIONS"]["endpoint_url"] == "http://minio:9000"
    assert default["OPTIONS"]["addressing_style"] == "path"
    assert default["OPTIONS"]["file_overwrite"] is False


def test_env_file_fills_in_but_the_environment_wins(tmp_path):
    env_file = tmp_path / "site.env"
    env_file.write_text("SITE_URL=https://from-file.example\nCOMPANY_NAME=Depuis le fichier\n")
    env = clean_env(tmp_path, ENV_FILE=str(env_file), COMPANY_NAME="Depuis l'environnement")

    values = read_settings(env, "SITE_URL", "COMPANY_NAME")

    assert values["SITE_URL"] == "https://from-file.example"
    assert values["COMPANY_NAME"] == "Depuis l'environnement"


def test_malformed_trusted_proxies_is_a_clear_configuration_error(tmp_path):
    result = manage("check", env=clean_env(tmp_path, TRUSTED_PROXIES="10.0.0.0/8,not-an-ip"))

    assert result.returncode != 0
    assert "ImproperlyConfigured: TRUSTED_PROXIES" in result.stderr


def test_a_rotated_secret_key_still_accepts_what_the_former_one_signed(tmp_path, settings):
    """GIVEN SECRET_KEY_FALLBACKS in the environment THEN the settings carry them, and a
    password-reset token signed with the former key still checks under the new one."""
    from django.contrib.auth.tokens import PasswordResetTokenGenerator

    from accounts.models import User

    env = production_env(tmp_path, SECRET_KEY_FALLBACKS="former-key-1,former-key-2")
    assert read_settings(env, "SECRET_KEY_FALLBACKS") == {
        "SECRET_KEY_FALLBACKS": ["former-key-1", "former-key-2"]
    }
    user = User(pk=7, email="rotation@example.test", password="!")
    settings.SECRET_KEY = "former-key-1" * 5
    token = PasswordResetTokenGenerator().make_token(user)
    settings.SECRET_KEY = "the-new-key" * 5
    settings.SECRET_KEY_FALLBACKS = []
    assert not PasswordResetTokenGenerator().check_token(user, token)
    settings.SECRET_KEY_FALLBACKS = ["former-key-1" * 5]
    assert PasswordResetTokenGenerator().check_token(user, token)
