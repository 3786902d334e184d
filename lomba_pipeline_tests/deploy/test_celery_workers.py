"""Dagster's Celery executor on loopback: Debian's redis-server as the broker, two
``dagster-celery worker`` processes, the real extraction run over 100 queued items (the Zhipu
fake at its HTTP boundary) fanning out into shards that claim items in Postgres, and a real
Instagram step routed to the ``instagram`` queue."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import boto3
import pytest
import yaml

from lomba_pipeline.distributed import processes
from lomba_pipeline.distributed.celery_config import celery_config
from lomba_pipeline.instance import topology_environment
from lomba_pipeline.settings import PROJECT_ROOT
from lomba_pipeline_tests.conftest import free_port
from lomba_pipeline_tests.deploy.topology import Process, wait_until
from lomba_pipeline_tests.fakes.ai_providers import FakeAiProviders
from lomba_pipeline_tests.fakes.fake_ig_ops import FakeIgOps

ITEMS = 100


@pytest.fixture(scope="module")
def broker(tmp_path_factory, deploy_settings, s3_endpoint):
    """redis-server on a free loopback port, and the environment every process shares."""
    assert shutil.which("redis-server"), "redis-server is missing: run `make system-deps`"
    work = tmp_path_factory.mktemp("celery")
    port = free_port()
    redis = Process("redis", processes.redis_server(port, work), dict(os.environ), work,
                    work).start()
    # compute logs and media in R2 (moto), as deploy/dagster.yaml expects
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    logs_bucket, media = f"compute-logs-{uuid.uuid4().hex[:8]}", f"media-{uuid.uuid4().hex[:8]}"
    for bucket in (logs_bucket, media):
        s3.create_bucket(Bucket=bucket)
    env = processes.process_environment({
        **topology_environment(deploy_settings, work / "dagster_home"),
        "LOMBA_CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0",
        "LOMBA_CELERY_RESULT_BACKEND": f"redis://127.0.0.1:{port}/1",
        "LOMBA_COMPUTE_LOG_BUCKET": logs_bucket,
        "LOMBA_DAGSTER_DATABASE_URL": deploy_settings.database.dagster_url,
        "LOMBA_R2_ENDPOINT_URL": s3_endpoint, "LOMBA_R2_ACCESS_KEY_ID": "testing",
        "LOMBA_R2_SECRET_ACCESS_KEY": "testing", "LOMBA_R2_BUCKET": media,
        "LOMBA_R2_PUBLIC_BASE_URL": "https://media.example.test",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    })
    wait_until(lambda: "Ready to accept connections" in redis.log.read_text(), 20,
               "redis-server", redis)
    # workers read deploy/celery.yaml as shipped; the lost-worker test's workers hand a lost
    # worker's step out again after 8 s instead of an hour (with 8 s for every test, a shard
    # slowed by a loaded machine would be handed out twice although no worker was lost)
    shipped, fast = work / "celery.yaml", work / "celery-fast-redelivery.yaml"
    shipped.write_text(yaml.safe_dump({"execution": {"config": celery_config()}}))
    config = celery_config()
    config["config_source"]["broker_transport_options"].update(
        {"visibility_timeout": 8, "unacked_restore_interval": 1, "unacked_restore_throttle": 1})
    fast.write_text(yaml.safe_dump({"execution": {"config": config}}))
    try:
        yield {"env": env, "work": work, "celery_file": shipped, "fast_redelivery_file": fast}
    finally:
        redis.stop()


def start_worker(broker, name: str, queues: tuple[str, ...], extra_env=None, *,
                 fast_redelivery: bool = False) -> Process:
    config = broker["fast_redelivery_file" if fast_redelivery else "celery_file"]
    worker = Process(
        f"worker-{name}-{uuid.uuid4().hex[:4]}",
        processes.celery_worker(name, queues, config),
        {**broker["env"], **(extra_env or {})}, broker["work"], PROJECT_ROOT,
    ).start()
    wait_until(lambda: f"{name}@" in worker.log.read_text() and " ready." in
               worker.log.read_text(), 90, f"celery worker {name}", worker)
    return worker


def providers_env(fake: FakeAiProviders) -> dict:
    """The chain with Zhipu at the fake's address; the per-minute limit off (the test measures
    nothing), four calls in flight shared by the shards."""
    return {"ZHIPUAI_API_KEY": "test-zhipu-key", "LOMBA_ZHIPU_BASE_URL": fake.zhipu_base_url,
            "LOMBA_EXTRACTION_PROVIDER": "chain", "LOMBA_AI_REQUESTS_PER_MINUTE": "0",
            "LOMBA_AI_CONCURRENCY": "4", "LOMBA_AI_BACKOFF_SECONDS": "0.05"}


def queue_items(postgres) -> None:
    with postgres.cursor() as cur:
        for i in range(ITEMS):
            cur.execute(
                "INSERT INTO raw_items (source_kind, source_name, canonical_url, caption, "
                "posted_at) VALUES ('web', 'infolomba.id', %s, %s, '2025-12-01')",
                (f"https://infolomba.id/event/{i:03d}",
                 f"LOMBA ESAI item-{i:03d}\nPendaftaran: 1 - 20 Januari 2026"),
            )


def start_extraction(broker, extra_env: dict) -> Process:
    """``dagster job execute`` of the code location's own ``extraction_job`` (executor from
    deploy/celery.yaml): the run's orchestrator in its own process. A shard's claims lapse
    after 3 s without a heartbeat instead of 2 minutes."""
    run_config = broker["work"] / f"extract-{uuid.uuid4().hex[:6]}.yaml"
    run_config.write_text(yaml.safe_dump({"ops": {"extracted_fields": {"ops": {
        "extract_shard": {"config": {"lease_seconds": 3}}}}}}))
    argv = processes.python_argv("dagster", "job", "execute", "-m",
                                 processes.CELERY_CODE_LOCATION_MODULE, "-j", "extraction_job",
                                 "-c", str(run_config))
    return Process(f"run-{run_config.stem}", argv, {**broker["env"], **extra_env},
                   broker["work"], Path(broker["env"]["DAGSTER_HOME"])).start()


def prepare_instagram_account(broker, postgres, fake) -> dict[str, str]:
    """ig_001 imported into the app database (session id stored encrypted), its content synced
    to the R2 bucket (moto); returns the environment that points the workers at the fake."""
    from dagster_aws.s3 import S3Resource

    from lomba_pipeline.ig_ops.accounts import import_accounts
    from lomba_pipeline.ig_ops.content_store import sync_content
    from lomba_pipeline.ig_ops.demo import write_demo_content
    from lomba_pipeline.resources.object_store import R2ObjectStore
    from lomba_pipeline.secrets_box import secret_box_from_settings
    from lomba_pipeline.settings import get_settings

    env = broker["env"]
    root = broker["work"] / f"ig-{uuid.uuid4().hex[:6]}"
    write_demo_content(root / "content", "ig_001", 1)
    fake.add_user(1001, "op.ig_001")
    os.environ["LOMBA_IG_CELERY_SID"] = "1001%3ACeleryWorkerSession%3A12%3AAYfake"
    (root / "accounts.yaml").write_text(yaml.safe_dump({"accounts": [{
        "id": "ig_001", "username": "op.ig_001", "content_dir": "content/ig_001",
        "credentials": {"sessionid_env": "LOMBA_IG_CELERY_SID"}}]}))
    try:
        with postgres.connection() as conn:
            import_accounts(conn, secret_box_from_settings(get_settings()), root / "accounts.yaml")
    finally:
        del os.environ["LOMBA_IG_CELERY_SID"]
    s3 = S3Resource(endpoint_url=env["LOMBA_R2_ENDPOINT_URL"], region_name="us-east-1",
                    aws_access_key_id="testing", aws_secret_access_key="testing")
    store = R2ObjectStore(s3=s3, bucket=env["LOMBA_R2_BUCKET"],
                          public_base_url=env["LOMBA_R2_PUBLIC_BASE_URL"])
    sync_content(store, "ig_001", root / "content" / "ig_001")
    return {"LOMBA_IG_API_BASE_URL": fake.url, "LOMBA_IG_REQUEST_DELAY_SECONDS": "0"}


def start_ig_post(broker, ig_env: dict[str, str]) -> Process:
    """ig_001's morning post run, on the location's Celery executor (deploy/celery.yaml)."""
    tags = json.dumps({"dagster/partition": "ig_001", "ig/account": "ig_001"})
    argv = processes.python_argv("dagster", "job", "execute", "-m",
                                 processes.CELERY_CODE_LOCATION_MODULE, "-j", "ig_post_job",
                                 "--tags", tags)
    return Process(f"ig-post-{uuid.uuid4().hex[:4]}", argv, {**broker["env"], **ig_env},
                   broker["work"], Path(broker["env"]["DAGSTER_HOME"])).start()


def run_ids_of(broker, job_name: str) -> list[str]:
    from dagster import DagsterInstance, RunsFilter

    saved = dict(os.environ)
    os.environ.update(broker["env"])
    try:
        with DagsterInstance.get() as instance:
            return [r.run_id for r in instance.get_runs(RunsFilter(job_name=job_name))]
    finally:
        os.environ.clear()
        os.environ.update(saved)


def shard_reports(postgres) -> list[dict]:
    with postgres.cursor() as cur:
        cur.execute("SELECT run_id, part, worker, summary FROM extraction_shard_reports "
                    "WHERE part <> 'plan'")
        return cur.fetchall()


def submitted_queues(broker, run_id: str) -> dict[str, str]:
    """Step key -> the Celery queue the executor sent it to (its engine event says so)."""
    from dagster import DagsterEventType, DagsterInstance

    saved = dict(os.environ)
    os.environ.update(broker["env"])
    try:
        with DagsterInstance.get() as instance:
            records = instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)
            return {r.step_key: r.message.rsplit(" to queue ", 1)[1].strip('".')
                    for r in records if (r.message or "").startswith("Submitting celery task")}
    finally:
        os.environ.clear()
        os.environ.update(saved)


def step_workers(broker, run_id: str) -> dict[str, list[str]]:
    """Step key -> the Celery workers that executed it, in order, as Dagster recorded them
    (a step's engine events name its worker more than once)."""
    found: dict[str, list[str]] = {}
    for record in engine_events(broker, run_id):
        data = record.dagster_event.engine_event_data
        worker = data.metadata.get("Celery worker") if data else None
        if worker is not None:
            found.setdefault(record.step_key, []).append(worker.value.split("@")[0])
    return {step: list(dict.fromkeys(ws)) for step, ws in found.items()}


def engine_events(broker, run_id: str) -> list:
    from dagster import DagsterEventType, DagsterInstance

    saved = dict(os.environ)
    os.environ.update(broker["env"])
    try:
        with DagsterInstance.get() as instance:
            return list(instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def assert_every_item_written_once(postgres) -> str:
    """One record, one ledger row and one "stored" event per queued item; returns the run."""
    with postgres.cursor() as cur:
        cur.execute("SELECT count(*) AS n, count(DISTINCT raw_item_id) AS items, "
                    "count(*) FILTER (WHERE extraction_status = 'done') AS done "
                    "FROM competitions")
        assert cur.fetchone() == {"n": ITEMS, "items": ITEMS, "done": ITEMS}
        cur.execute("SELECT raw_item_id, count(*) AS n FROM extraction_attempts "
                    "WHERE provider = 'zhipu' GROUP BY 1 HAVING count(*) <> 1")
        assert cur.fetchall() == [], "an item's provider call was recorded twice"
        cur.execute("SELECT subject FROM events WHERE kind = 'extract.record_stored' "
                    "GROUP BY 1 HAVING count(*) <> 1")
        assert cur.fetchall() == [], "an item was stored twice"
        cur.execute("SELECT count(*) AS n FROM raw_items WHERE needs_extraction "
                    "OR extraction_claimed_by IS NOT NULL")
        assert cur.fetchone()["n"] == 0
    (run_id,) = {r["run_id"] for r in shard_reports(postgres)}
    return run_id


def run_metadata(broker, run_id: str) -> dict:
    from dagster import AssetKey, DagsterInstance

    saved = dict(os.environ)
    os.environ.update(broker["env"])
    try:
        with DagsterInstance.get() as instance:
            event = instance.get_latest_materialization_event(AssetKey("extracted_fields"))
            assert event.run_id == run_id
            return {k: v.value for k, v in event.asset_materialization.metadata.items()}
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.mark.timeout(240)
def test_an_extraction_run_fans_out_over_two_workers_and_writes_every_item_once(
    broker, postgres
):
    queue_items(postgres)
    ig_fake = FakeIgOps().start()
    ig_env = prepare_instagram_account(broker, postgres, ig_fake)
    with FakeAiProviders(latency_seconds=0.1) as fake:
        env = {**providers_env(fake), **ig_env}
        workers = [start_worker(broker, "w1", ("dagster", "instagram"), env),
                   start_worker(broker, "w2", ("dagster",), env)]
        try:
            run = start_extraction(broker, env)
            ig_post = start_ig_post(broker, ig_env)  # beside the extraction, on the same workers
            wait_until(lambda: run.proc.poll() is not None and ig_post.proc.poll() is not None,
                       150, "the extraction and ig_post_job runs", *workers)
            assert run.proc.returncode == 0, run.tail(6000)
            assert ig_post.proc.returncode == 0, ig_post.tail(6000)
            run_id = assert_every_item_written_once(postgres)
            provider_calls = len(fake.calls_to("/chat/completions"))
        finally:
            for worker in workers:
                worker.stop()
            ig_fake.stop()
    assert provider_calls == ITEMS  # no item sent to the provider by two shards
    by_step = step_workers(broker, run_id)
    shards = {step: ws for step, ws in by_step.items() if "extract_shard[" in step}
    # the plan made four shards; each was executed (and recorded) on one of the two machines,
    # and both machines took shards
    assert len(shards) == 4 and all(len(ws) == 1 for ws in shards.values()), by_step
    assert {ws[0] for ws in shards.values()} == {"w1", "w2"}, by_step
    # both machines wrote records, and the run's summary counts each record once
    reports = shard_reports(postgres)
    writers = {r["worker"] for r in reports if r["summary"]["extracted"] > 0}
    assert len(writers) == 2, reports
    meta = run_metadata(broker, run_id)
    assert (meta["pending"], meta["extracted"], meta["done"], meta["ai_calls"]) == (
        ITEMS, ITEMS, ITEMS, ITEMS)
    assert meta["shards"] == 4
    # the Instagram step went to the instagram queue only, ran where that queue is served,
    # read the account's content from R2 and posted it
    (ig_run,) = run_ids_of(broker, "ig_post_job")
    assert submitted_queues(broker, ig_run) == {"publish_morning_post": "instagram"}
    assert step_workers(broker, ig_run) == {"publish_morning_post": ["w1"]}
    (post,) = ig_fake.posts_of(1001)
    assert post.caption.startswith("Info lomba hari ini #1 dari @ig_001")


@pytest.mark.timeout(240)
def test_a_worker_killed_mid_run_loses_no_item_and_duplicates_none(broker, postgres):
    queue_items(postgres)
    with FakeAiProviders(latency_seconds=0.15) as fake:
        env = providers_env(fake)
        w1 = start_worker(broker, "w1", ("dagster", "instagram"), env, fast_redelivery=True)
        w2 = start_worker(broker, "w2", ("dagster",), env, fast_redelivery=True)
        try:
            run = start_extraction(broker, env)

            def w1_is_mid_shard():
                pids = {str(p.pid) for p in _tree(w1.proc.pid)}
                reports = shard_reports(postgres)
                mine = [r for r in reports if r["worker"].rsplit("/", 1)[-1] in pids
                        and r["summary"]["extracted"] > 0]
                written = sum(r["summary"]["extracted"] for r in reports)
                return mine and written < ITEMS * 0.7

            wait_until(w1_is_mid_shard, 120, "worker w1 to be in the middle of a shard", w1, w2,
                       run, interval=0.2)
            w1.kill()  # the machine is gone: no shutdown, no acknowledgement
            wait_until(lambda: run.proc.poll() is not None, 150, "the extraction run", w2)
            assert run.proc.returncode == 0, run.tail(6000)
            run_id = assert_every_item_written_once(postgres)
            provider_calls = len(fake.calls_to("/chat/completions"))
        finally:
            w1.stop()
            w2.stop()
    # at most the one call w1 had in flight was made again
    assert ITEMS <= provider_calls <= ITEMS + 1
    by_step = step_workers(broker, run_id)
    # the shard w1 was running was handed to w2 and executed there again
    redelivered = [step for step, ws in by_step.items()
                   if "extract_shard[" in step and ws == ["w1", "w2"]]
    assert redelivered, by_step
    # the records w1 finished before it died still count in the run's summary, once
    meta = run_metadata(broker, run_id)
    assert (meta["extracted"], meta["done"]) == (ITEMS, ITEMS)


def _tree(pid: int):
    import psutil

    try:
        parent = psutil.Process(pid)
    except psutil.Error:
        return []
    return [parent, *parent.children(recursive=True)]
