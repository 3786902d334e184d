"""LOMBA_ENV=production refuses to start on single-machine defaults, naming each missing one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from lomba_pipeline.settings import ProductionSettingsMissing, get_settings
from lomba_pipeline_tests.processes import lomba

KEY = Fernet.generate_key().decode()


@pytest.fixture
def production(monkeypatch, test_environment, tmp_path):
    """A complete production environment (a fresh LOMBA_HOME); tests remove parts of it."""
    values = {
        "LOMBA_ENV": "production",
        "LOMBA_HOME": str(tmp_path / "home"),
        "LOMBA_ENCRYPTION_KEY": KEY,
        "LOMBA_DATABASE_URL": test_environment["app_url"],
        "LOMBA_PUBLIC_MEDIA_URL": "https://media.example.test",
        "LOMBA_ADMIN_SECRET_KEY": "an-admin-secret-shared-by-all-machines",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield values
    get_settings.cache_clear()


def test_a_complete_production_environment_starts_and_uses_no_generated_secret(production):
    settings = get_settings()
    assert settings.encryption_key == KEY
    assert settings.admin_secret_key == "an-admin-secret-shared-by-all-machines"
    # nothing was generated on this machine's disk
    home = settings.home
    assert not (home / "encryption.key").exists() and not (home / "admin_secret.key").exists()


@pytest.mark.parametrize("missing", ["LOMBA_ENCRYPTION_KEY", "LOMBA_DATABASE_URL",
                                     "LOMBA_ADMIN_SECRET_KEY", "LOMBA_PUBLIC_MEDIA_URL"])
def test_each_missing_setting_is_named(production, monkeypatch, missing):
    monkeypatch.delenv(missing)
    with pytest.raises(ProductionSettingsMissing) as refused:
        get_settings()
    message = str(refused.value)
    assert missing in message
    # only that one: the others are present
    others = {"LOMBA_ENCRYPTION_KEY", "LOMBA_DATABASE_URL", "LOMBA_ADMIN_SECRET_KEY"} - {missing}
    assert not any(f"- {name}" in message for name in others), message
    # and no dev default was written in its place
    assert not os.path.exists(os.path.join(production["LOMBA_HOME"], "encryption.key"))


def test_r2_counts_as_public_media(production, monkeypatch, s3_endpoint):
    monkeypatch.delenv("LOMBA_PUBLIC_MEDIA_URL")
    for name, value in {"LOMBA_R2_ENDPOINT_URL": s3_endpoint, "LOMBA_R2_ACCESS_KEY_ID": "k",
                        "LOMBA_R2_SECRET_ACCESS_KEY": "s", "LOMBA_R2_BUCKET": "media",
                        "LOMBA_R2_PUBLIC_BASE_URL": "https://media.example.test"}.items():
        monkeypatch.setenv(name, value)
    assert get_settings().media.r2.bucket == "media"


def test_a_key_that_is_not_a_fernet_key_is_refused_without_echoing_it(production, monkeypatch):
    monkeypatch.setenv("LOMBA_ENCRYPTION_KEY", "hunter2-not-a-key")
    with pytest.raises(ProductionSettingsMissing) as refused:
        get_settings()
    assert "LOMBA_ENCRYPTION_KEY: not a Fernet key" in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_development_is_the_default_and_an_unknown_mode_is_refused(production, monkeypatch):
    monkeypatch.delenv("LOMBA_ENV")
    monkeypatch.delenv("LOMBA_ENCRYPTION_KEY")
    assert get_settings().encryption_key  # generated under LOMBA_HOME, as today
    monkeypatch.setenv("LOMBA_ENV", "prod")
    get_settings.cache_clear()
    with pytest.raises(ValueError, match="LOMBA_ENV must be 'development' or 'production'"):
        get_settings()


def test_the_cli_and_the_code_location_refuse_to_start(production):
    env = {**os.environ}
    for name in ("LOMBA_ENCRYPTION_KEY", "LOMBA_DATABASE_URL", "LOMBA_PUBLIC_MEDIA_URL",
                 "LOMBA_ADMIN_SECRET_KEY"):
        env.pop(name)
    refused = lomba("db", "url", env=env)
    assert refused.returncode != 0
    for name in ("LOMBA_ENCRYPTION_KEY", "LOMBA_DATABASE_URL", "LOMBA_PUBLIC_MEDIA_URL",
                 "LOMBA_ADMIN_SECRET_KEY"):
        assert name in refused.stderr, refused.stderr
    # the same environment, complete: the command runs
    started = lomba("db", "url")
    assert started.returncode == 0, started.stderr
    # the code location (what `dagster api grpc -m lomba_pipeline.definitions` loads)
    load = subprocess.run(
        [sys.executable, "-c", "from lomba_pipeline.definitions import defs; defs()"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert load.returncode != 0 and "LOMBA_ENCRYPTION_KEY" in load.stderr, load.stderr[-2000:]
