"""Fixtures for the vault tests; import the ones a module uses.

- ``vault_storage``: the vault storage alias on a private directory (never var/).
- ``moto_endpoint`` (session): a real moto server process (S3 and KMS over HTTP) on
  a free loopback port, started here; ``s3_vault`` and ``kms_key`` point the settings at it.
  They fail in CI when the server cannot start (``require_service``).
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import port_open, require_service
from tests.fixtures.services import free_port, wait_until

REGION = "eu-west-3"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(autouse=True)
def vault_storage(settings, tmp_path):
    location = tmp_path / "vault"
    settings.STORAGES = {
        **settings.STORAGES,
        "vault": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {
                "location": str(location),
                "file_permissions_mode": 0o600,
                "directory_permissions_mode": 0o700,
            },
        },
    }
    return location


@pytest.fixture(scope="session")
def moto_endpoint():
    """``moto_server`` in its own process, so that the tests measure only our memory."""
    executable = Path(sys.executable).with_name("moto_server")
    if not executable.exists():
        yield None
        return
    port = free_port()
    process = subprocess.Popen(
        [str(executable), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: port_open("127.0.0.1", port), timeout=20, what="moto server")
    except AssertionError:
        process.kill()
        process.wait()
        yield None
        return
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def moto(moto_endpoint):
    require_service(
        "moto server (S3 and KMS)", moto_endpoint is not None, "pip install moto[server]"
    )
    return moto_endpoint


def boto_client(service: str, endpoint: str):
    import boto3

    return boto3.client(service, region_name=REGION, endpoint_url=endpoint, **CREDENTIALS)


@pytest.fixture
def s3_vault(settings, moto):
    """The vault storage on a fresh bucket of the moto server, configured as in production."""
    from boto3.s3.transfer import TransferConfig

    bucket = f"vault-{uuid.uuid4().hex[:12]}"
    boto_client("s3", moto).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    # As in mynetspace/settings.py.
    transfer = TransferConfig(
        multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024, max_concurrency=2
    )
    transfer.max_in_memory_upload_chunks = 2
    settings.STORAGES = {
        **settings.STORAGES,
        "vault": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": moto,
                "region_name": REGION,
                "access_key": CREDENTIALS["aws_access_key_id"],
                "secret_key": CREDENTIALS["aws_secret_access_key"],
                "addressing_style": "path",
                "file_overwrite": False,
                "default_acl": None,
                "location": "vault",
                "querystring_auth": False,
                "transfer_config": transfer,
            },
        },
    }
    return bucket


@pytest.fixture
def kms_key(settings, moto):
    """A KMS key of the moto server, configured as the vault's master key."""
    key = boto_client("kms", moto).create_key(Description="vault master key")["KeyMetadata"]
    settings.VAULT_KMS_KEY_ID = key["Arn"]
    settings.VAULT_KMS_REGION = REGION
    settings.VAULT_KMS_ENDPOINT_URL = moto
    settings.VAULT_KMS_ACCESS_KEY_ID = CREDENTIALS["aws_access_key_id"]
    settings.VAULT_KMS_SECRET_ACCESS_KEY = CREDENTIALS["aws_secret_access_key"]
    return key["Arn"]
