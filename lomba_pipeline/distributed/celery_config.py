"""deploy/celery.yaml's ``execution.config`` block, read once: the executor's configuration and
the workers' (``dagster-celery worker start -y deploy/celery.yaml``) come from the same file."""

from pathlib import Path

import yaml

from lomba_pipeline.distributed.processes import CELERY_CONFIG_FILE


def celery_config(path: Path = CELERY_CONFIG_FILE) -> dict:
    """Broker and backend stay ``{env: ...}`` references, resolved by Dagster at run time."""
    return yaml.safe_load(path.read_text())["execution"]["config"]
