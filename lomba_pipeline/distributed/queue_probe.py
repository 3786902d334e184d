"""``instagram_queue_probe_job``: one step pinned to the ``instagram`` Celery queue.

An operator runs it after adding a machine for the operated accounts: the step's engine event
names the worker that took it, which must be one started with ``-q dagster,instagram``. (Work
spread over workers is shown by the real extraction run: ``extraction_job`` fans out into
shards, see ``catalog/extraction/shards.py``.)
"""

import os
import socket

import dagster as dg
from dagster_celery import celery_executor
from dagster_celery.tags import DAGSTER_CELERY_QUEUE_TAG

from lomba_pipeline.distributed.celery_config import celery_config
from lomba_pipeline.distributed.processes import INSTAGRAM_QUEUE


@dg.op(tags={DAGSTER_CELERY_QUEUE_TAG: INSTAGRAM_QUEUE})
def instagram_queue_probe(context: dg.OpExecutionContext) -> None:
    """Runs only on a worker started with ``-q instagram`` (the machines the accounts know)."""
    context.log.info(f"the instagram queue reached {socket.gethostname()}/{os.getpid()}")


# its own executor, defaulting to deploy/celery.yaml, so a probe can try other broker settings
@dg.job(executor_def=celery_executor, config={"execution": {"config": celery_config()}},
        description="One step on the instagram queue: which worker serves it.")
def instagram_queue_probe_job():
    instagram_queue_probe()
