"""Instagram steps go to the ``instagram`` Celery queue: only workers on the machines whose IP the
accounts know (started with ``-q instagram``) run them; the default executor ignores the tag."""

from dagster_celery.tags import DAGSTER_CELERY_QUEUE_TAG

from lomba_pipeline.definitions import build_definitions
from lomba_pipeline.distributed.processes import INSTAGRAM_QUEUE
from lomba_pipeline.ig_ops.jobs import ig_post_job, ig_reply_job


def test_every_step_of_the_instagram_jobs_is_pinned_to_the_instagram_queue():
    defs = build_definitions()
    for name in (ig_reply_job.name, ig_post_job.name):
        job = defs.resolve_job_def(name)
        steps = {node.name: node.tags.get(DAGSTER_CELERY_QUEUE_TAG) for node in job.graph.nodes}
        assert steps and set(steps.values()) == {INSTAGRAM_QUEUE}, (name, steps)

