"""The code location of the multi-machine topology: ``lomba_pipeline.definitions`` with every
step executed by Dagster's Celery executor (deploy/celery.yaml): ``extracted_fields`` fans out into
shards over the workers, and Instagram steps go to the ``instagram`` queue.

Serve it with ``dagster api grpc -m lomba_pipeline.distributed.definitions``; the single-machine
default (``lomba dev``, ``lomba run``) keeps serving ``lomba_pipeline.definitions``, no broker.
"""

from __future__ import annotations

import dagster as dg
from dagster_celery import celery_executor

from lomba_pipeline.definitions import build_definitions
from lomba_pipeline.distributed.celery_config import celery_config


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        # the Instagram steps must reach the instagram queue: no in-process jobs there
        build_definitions(light_jobs_in_process=False),
        dg.Definitions(executor=celery_executor.configured(celery_config())),
    )
