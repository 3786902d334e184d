"""``worker_drill_job``: a fan-out job that shows a set of Celery workers sharing work safely.

An operator runs it after adding a worker machine: it seeds N items in Postgres, fans out into
shards (separate steps, so separate Celery tasks on any worker) that claim items with
``SELECT ... FOR UPDATE SKIP LOCKED`` in small batches, and a final step checks that every item
was written exactly once. One step is pinned to the ``instagram`` queue to show the routing.
A worker lost mid-batch loses only its open transaction: its rows are unlocked and claimed again
(by its own re-delivered task or by another shard).
"""


import os
import socket
import time

import dagster as dg
from dagster_celery import celery_executor
from dagster_celery.tags import DAGSTER_CELERY_QUEUE_TAG

from lomba_pipeline.distributed.celery_config import celery_config
from lomba_pipeline.distributed.processes import INSTAGRAM_QUEUE
from lomba_pipeline.resources.postgres import PostgresResource

SHARDS = 8

# the drill's own two tables, created on first use: they belong to no domain and hold nothing
# a person needs (delete them freely)
TABLES = """
CREATE TABLE IF NOT EXISTS worker_drill_items (
  drill_id text NOT NULL, item_no int NOT NULL, done_by text, done_at timestamptz,
  PRIMARY KEY (drill_id, item_no));
CREATE TABLE IF NOT EXISTS worker_drill_writes (
  id bigserial PRIMARY KEY, drill_id text NOT NULL, item_no int NOT NULL,
  step_key text NOT NULL, worker text NOT NULL, written_at timestamptz NOT NULL DEFAULT now());
"""


class DrillConfig(dg.Config):
    items: int = 100
    batch_size: int = 5
    seconds_per_item: float = 0.05  # stands in for the real work of one item


def _worker_name() -> str:
    return f"{socket.gethostname()}/{os.getpid()}"


@dg.op(out=dg.Out(dg.Nothing))
def seed_items(context: dg.OpExecutionContext, config: DrillConfig,
               postgres: PostgresResource) -> None:
    with postgres.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('worker_drill_tables'))")
        cur.execute(TABLES)
        # idempotent: a re-executed seed adds nothing
        cur.execute(
            "INSERT INTO worker_drill_items (drill_id, item_no)"
            " SELECT %s, n FROM generate_series(1, %s) AS n ON CONFLICT DO NOTHING",
            (context.run_id, config.items),
        )
    context.log.info(f"Drill: {config.items} items seeded for run {context.run_id}")


def claim_and_work(context: dg.OpExecutionContext, config: DrillConfig,
                   postgres: PostgresResource) -> int:
    """Claim batches up to this shard's share; each batch is one transaction (claim, write,
    mark). The share keeps the shards (and so the workers) equally busy; items a lost shard
    held are unlocked again and taken by its re-delivered task."""
    done = 0
    worker = _worker_name()
    share = -(-config.items // SHARDS)
    while done < share:
        with postgres.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT item_no FROM worker_drill_items WHERE drill_id = %s AND done_at IS NULL"
                " ORDER BY item_no LIMIT %s FOR UPDATE SKIP LOCKED",
                (context.run_id, min(config.batch_size, share - done)),
            )
            batch = [row[0] for row in cur.fetchall()]
            if not batch:
                break
            for item_no in batch:
                time.sleep(config.seconds_per_item)
                cur.execute(
                    "INSERT INTO worker_drill_writes (drill_id, item_no, step_key, worker)"
                    " VALUES (%s, %s, %s, %s)",
                    (context.run_id, item_no, context.op_handle.name, worker),
                )
            cur.execute(
                "UPDATE worker_drill_items SET done_by = %s, done_at = now()"
                " WHERE drill_id = %s AND item_no = ANY(%s)",
                (worker, context.run_id, batch),
            )
        done += len(batch)
    context.log.info(f"Drill: {context.op_handle.name} wrote {done} items on {worker}")
    return done


def _shard(index: int) -> dg.OpDefinition:
    @dg.op(name=f"work_shard_{index}", ins={"seeded": dg.In(dg.Nothing)},
           out=dg.Out(dg.Nothing))
    def work_shard(context: dg.OpExecutionContext, config: DrillConfig,
                   postgres: PostgresResource) -> None:
        claim_and_work(context, config, postgres)

    return work_shard


SHARD_OPS = [_shard(i) for i in range(1, SHARDS + 1)]


@dg.op(ins={"seeded": dg.In(dg.Nothing)}, out=dg.Out(dg.Nothing),
       tags={DAGSTER_CELERY_QUEUE_TAG: INSTAGRAM_QUEUE})
def instagram_queue_probe(context: dg.OpExecutionContext) -> None:
    """Runs only on a worker started with ``-q instagram`` (the machines the accounts know)."""
    context.log.info(f"Drill: the instagram queue reached {_worker_name()}")


@dg.op(ins={"shards": dg.In(dg.Nothing)})
def check_every_item_written_once(context: dg.OpExecutionContext,
                                  postgres: PostgresResource) -> dg.Output[None]:
    with postgres.connection() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FILTER (WHERE done_at IS NULL),"
            " (SELECT count(*) FROM (SELECT item_no FROM worker_drill_writes WHERE drill_id = %s"
            "  GROUP BY item_no HAVING count(*) > 1) d),"
            " (SELECT count(DISTINCT worker) FROM worker_drill_writes WHERE drill_id = %s)"
            " FROM worker_drill_items WHERE drill_id = %s",
            (context.run_id, context.run_id, context.run_id),
        )
        left, duplicated, workers = cur.fetchone()
    if left or duplicated:
        raise dg.Failure(f"Drill: {left} items never written, {duplicated} written twice")
    return dg.Output(None, metadata={"workers": workers, "items_left": left,
                                     "items_duplicated": duplicated})


# its own executor, defaulting to deploy/celery.yaml, so a drill can try other broker settings
# (a test shortens the re-delivery delay) without changing the code location's executor
@dg.job(executor_def=celery_executor, config={"execution": {"config": celery_config()}},
        description="Fan-out drill over Celery workers (run after adding a worker machine).")
def worker_drill_job():
    seeded = seed_items()
    instagram_queue_probe(seeded)
    check_every_item_written_once([shard(seeded) for shard in SHARD_OPS])
