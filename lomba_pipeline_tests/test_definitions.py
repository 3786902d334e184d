"""The code location loads, and the project's Dagster instance runs on the embedded Postgres."""

import os

import dagster as dg
import pytest

from lomba_pipeline.definitions import build_definitions, defs


def test_code_location_loads():
    location = defs()  # the lazy entry point Dagster calls
    dg.Definitions.validate_loadable(location)
    assert {"postgres", "object_store"} <= set(location.resources)


def test_a_broken_sources_file_fails_the_load_naming_file_and_field(tmp_path, monkeypatch):
    from lomba_pipeline.catalog.sources.config import SourcesConfigError
    from lomba_pipeline.settings import load_settings

    broken = tmp_path / "sources.yaml"
    broken.write_text("web:\n  - {name: x, type: infolomba, base_url: not-a-url}\n")
    monkeypatch.setenv("LOMBA_SOURCES_FILE", str(broken))
    with pytest.raises(SourcesConfigError) as failure:
        build_definitions(load_settings())
    assert f"{broken}: web.0.infolomba.base_url" in str(failure.value)


def test_default_wiring_uses_local_store(settings):
    from lomba_pipeline.resources.object_store import LocalObjectStore

    store = build_definitions(settings).resources["object_store"]
    assert isinstance(store, LocalObjectStore)
    assert store.root == str(settings.home / "media")


def test_r2_wiring_keeps_secrets_as_env_vars(monkeypatch):
    from lomba_pipeline.resources.object_store import R2ObjectStore
    from lomba_pipeline.settings import load_settings

    for name, value in {
        "LOMBA_R2_ENDPOINT_URL": "https://acct.r2.cloudflarestorage.com",
        "LOMBA_R2_ACCESS_KEY_ID": "AKIA-not-real",
        "LOMBA_R2_SECRET_ACCESS_KEY": "very-secret",
        "LOMBA_R2_BUCKET": "lomba-posters",
        "LOMBA_R2_PUBLIC_BASE_URL": "https://media.example.test/",
    }.items():
        monkeypatch.setenv(name, value)
    store = build_definitions(load_settings()).resources["object_store"]
    assert isinstance(store, R2ObjectStore)
    assert store.bucket == "lomba-posters"
    assert store.s3.region_name == "auto"
    assert isinstance(store.s3.aws_secret_access_key, dg.EnvVar)
    assert "very-secret" not in repr(store)


def test_instance_loads_from_project_dagster_yaml(settings, monkeypatch):
    from lomba_pipeline.instance import dagster_environment

    env = dagster_environment(settings)
    assert env["DAGSTER_PG_URL"].startswith("postgresql+psycopg2://")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        queue = instance.get_concurrency_config().run_queue_config
        assert any(
            limit["key"] == "ig/account" and limit["limit"] == 1
            for limit in queue.tag_concurrency_limits
        )

        @dg.op(pool="instagram_api")
        def touch_pool():
            return 1

        @dg.job
        def smoke():
            touch_pool()

        result = smoke.execute_in_process(instance=instance)
        assert result.success
        assert instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.SUCCESS


def test_secret_never_printed_by_settings_repr(monkeypatch):
    from lomba_pipeline.settings import load_settings

    monkeypatch.setenv("MISTRAL_API_KEY", "sk-should-not-leak")
    assert "sk-should-not-leak" not in repr(load_settings())


def test_local_encryption_key_is_generated_once_and_private(settings):
    from cryptography.fernet import Fernet

    key = settings.encryption_key
    assert Fernet(key.encode())  # a valid Fernet key
    assert settings.encryption_key == key
    path = settings.home / "encryption.key"
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"


def test_cli_object_store_reaches_r2_with_resolved_credentials(monkeypatch, s3_endpoint):
    """Outside Dagster (CLI, admin) the R2 store works with values read from the environment."""
    import boto3

    from lomba_pipeline.resources.object_store import object_store_from_settings
    from lomba_pipeline.settings import load_settings

    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket="cli-posters")
    for name, value in {
        "LOMBA_R2_ENDPOINT_URL": s3_endpoint,
        "LOMBA_R2_ACCESS_KEY_ID": "testing",
        "LOMBA_R2_SECRET_ACCESS_KEY": "testing",
        "LOMBA_R2_BUCKET": "cli-posters",
        "LOMBA_R2_PUBLIC_BASE_URL": "https://media.example.test",
    }.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert "testing" not in repr(settings.media.r2)
    store = object_store_from_settings(settings, for_dagster=False)
    stored = store.put(b"poster", "image/png")
    assert store.list() == [stored.key]


def test_every_lane_runs_without_switching_it_on():
    """Schedules and sensors start RUNNING: a fresh deployment scrapes, replies, posts, reports."""
    repo = defs().get_repository_def()
    stopped = [s.name for s in repo.schedule_defs if s.default_status != dg.DefaultScheduleStatus.RUNNING]
    stopped += [s.name for s in repo.sensor_defs if s.default_status != dg.DefaultSensorStatus.RUNNING]
    assert stopped == []
    names = {s.name for s in repo.schedule_defs} | {s.name for s in repo.sensor_defs}
    assert {"catalog_web_schedule", "catalog_ig_schedule", "manual_link_sensor",
            "catalog_automation_sensor", "whatsapp_catch_up_schedule", "catalog_report_schedule",
            "ig_reply_sensor", "ig_nightly_report_schedule",
            "ig_morning_post_ig_001_schedule", "ig_morning_post_ig_010_schedule"} <= names


def test_jobs_schedules_and_sensors_follow_one_naming_convention():
    """A person reading the UI's lists can tell a job from a schedule from a sensor by its name."""
    repo = defs().get_repository_def()
    jobs = [j.name for j in repo.get_all_jobs() if not j.name.startswith("__")]
    misnamed = (
        [n for n in jobs if not n.endswith("_job")]
        + [s.name for s in repo.schedule_defs if not s.name.endswith("_schedule")]
        + [s.name for s in repo.sensor_defs if not s.name.endswith("_sensor")]
    )
    assert misnamed == []
