"""Dagster's Celery executor on loopback: Debian's redis-server as the broker, two
``dagster-celery worker`` processes, a run whose steps fan out over 100 items in Postgres."""

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
    # deploy/celery.yaml as shipped, except that a lost worker's step is handed out again
    # after 8 s instead of an hour
    config = celery_config()
    config["config_source"]["broker_transport_options"].update(
        {"visibility_timeout": 8, "unacked_restore_interval": 1, "unacked_restore_throttle": 1})
    celery_file = work / "celery.yaml"
    celery_file.write_text(yaml.safe_dump({"execution": {"config": config}}))
    try:
        yield {"env": env, "work": work, "celery_file": celery_file}
    finally:
        redis.stop()


def start_worker(broker, name: str, queues: tuple[str, ...], extra_env=None) -> Process:
    worker = Process(
        f"worker-{name}-{uuid.uuid4().hex[:4]}",
        processes.celery_worker(name, queues, broker["celery_file"]),
        {**broker["env"], **(extra_env or {})}, broker["work"], PROJECT_ROOT,
    ).start()
    wait_until(lambda: f"{name}@" in worker.log.read_text() and " ready." in
               worker.log.read_text(), 90, f"celery worker {name}", worker)
    return worker


def start_drill(broker, seconds_per_item: float) -> Process:
    """``dagster job execute``: the run's orchestrator in its own process."""
    run_config = broker["work"] / f"drill-{uuid.uuid4().hex[:6]}.yaml"
    run_config.write_text(yaml.safe_dump({
        "ops": {op: {"config": {"items": ITEMS, "seconds_per_item": seconds_per_item}}
                for op in ["seed_items"] + [f"work_shard_{i}" for i in range(1, 9)]},
    }))
    argv = [*processes.python_argv("dagster", "job", "execute", "-m",
                               processes.CELERY_CODE_LOCATION_MODULE, "-j", "worker_drill_job",
                               "-c", str(broker["celery_file"]), "-c", str(run_config))]
    return Process(f"drill-{run_config.stem}", argv, broker["env"], broker["work"],
                   Path(broker["env"]["DAGSTER_HOME"])).start()


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


def drill_writes(postgres) -> list[dict]:
    with postgres.cursor() as cur:
        cur.execute("SELECT to_regclass('worker_drill_writes') IS NOT NULL AS present")
        if not cur.fetchone()["present"]:
            return []
        cur.execute("SELECT drill_id, item_no, step_key, worker FROM worker_drill_writes")
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
    """Step key -> the Celery workers that executed it, as Dagster recorded them."""
    from dagster import DagsterEventType, DagsterInstance

    saved = dict(os.environ)
    os.environ.update(broker["env"])
    try:
        with DagsterInstance.get() as instance:
            found: dict[str, list[str]] = {}
            for record in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
                data = record.dagster_event.engine_event_data
                worker = data.metadata.get("Celery worker") if data else None
                if worker is not None:
                    found.setdefault(record.step_key, []).append(worker.value.split("@")[0])
            return found
    finally:
        os.environ.clear()
        os.environ.update(saved)


def assert_every_item_written_once(postgres) -> str:
    writes = drill_writes(postgres)
    (run_id,) = {w["drill_id"] for w in writes}
    items = sorted(w["item_no"] for w in writes)
    assert items == list(range(1, ITEMS + 1)), "an item was written twice or never"
    return run_id


@pytest.mark.timeout(240)
def test_the_steps_of_a_run_spread_over_two_workers_and_every_item_is_written_once(
    broker, postgres
):
    fake = FakeIgOps().start()
    ig_env = prepare_instagram_account(broker, postgres, fake)
    workers = [start_worker(broker, "w1", ("dagster", "instagram"), ig_env),
               start_worker(broker, "w2", ("dagster",), ig_env)]
    try:
        drill = start_drill(broker, seconds_per_item=0.1)
        ig_post = start_ig_post(broker, ig_env)  # beside the drill, on the same two workers
        wait_until(lambda: drill.proc.poll() is not None, 150, "the drill run", *workers)
        assert drill.proc.returncode == 0, drill.tail(6000)
        run_id = assert_every_item_written_once(postgres)
        wait_until(lambda: ig_post.proc.poll() is not None, 120, "the ig_post_job run",
                   *workers)
        assert ig_post.proc.returncode == 0, ig_post.tail(6000)
    finally:
        for worker in workers:
            worker.stop()
        fake.stop()
    by_step = step_workers(broker, run_id)
    # both machines took steps, and both wrote items
    assert {w for ws in by_step.values() for w in ws} == {"w1", "w2"}, by_step
    writes = drill_writes(postgres)
    assert len({w["worker"] for w in writes}) == 2, sorted({(w["step_key"], w["worker"])
                                                            for w in writes})
    # the step pinned to the instagram queue ran only where that queue is served
    assert by_step["instagram_queue_probe"] == ["w1"]
    # so did the real Instagram step, which read the account's content from R2 and posted it
    (ig_run,) = run_ids_of(broker, "ig_post_job")
    assert submitted_queues(broker, ig_run) == {"publish_morning_post": "instagram"}
    assert step_workers(broker, ig_run) == {"publish_morning_post": ["w1"]}
    (post,) = fake.posts_of(1001)
    assert post.caption.startswith("Info lomba hari ini #1 dari @ig_001")


@pytest.mark.timeout(240)
def test_a_worker_killed_mid_run_loses_no_step_and_duplicates_no_item(broker, postgres):
    w1 = start_worker(broker, "w1", ("dagster", "instagram"))
    w2 = start_worker(broker, "w2", ("dagster",))
    try:
        drill = start_drill(broker, seconds_per_item=0.15)

        def w1_is_mid_shard():
            pids = {str(p.pid) for p in _tree(w1.proc.pid)}
            writes = drill_writes(postgres)
            mine = [w for w in writes if w["worker"].rsplit("/", 1)[-1] in pids]
            return mine and len(writes) < ITEMS * 0.7

        wait_until(w1_is_mid_shard, 120, "worker w1 to be in the middle of a shard", w1, w2,
                   drill, interval=0.2)
        w1.kill()  # the machine is gone: no shutdown, no acknowledgement
        wait_until(lambda: drill.proc.poll() is not None, 150, "the drill run", w2)
        assert drill.proc.returncode == 0, drill.tail(6000)
        run_id = assert_every_item_written_once(postgres)
    finally:
        w1.stop()
        w2.stop()
    by_step = step_workers(broker, run_id)
    # the step w1 was running was handed to w2 and executed there again
    redelivered = [step for step, ws in by_step.items() if ws == ["w1", "w2"]]
    assert redelivered, by_step


def _tree(pid: int):
    import psutil

    try:
        parent = psutil.Process(pid)
    except psutil.Error:
        return []
    return [parent, *parent.children(recursive=True)]
