"""The deployment files agree with each other and with the single-machine instance."""

from __future__ import annotations

import yaml
from dagster_celery.cli import get_validated_config

from lomba_pipeline.distributed.processes import CELERY_CONFIG_FILE
from lomba_pipeline.instance import SINGLE_MACHINE_INSTANCE, TOPOLOGY_INSTANCE
from lomba_pipeline.settings import PROJECT_ROOT

SHARED = ["storage", "concurrency", "run_retries", "retention", "telemetry"]


def load(path):
    return yaml.safe_load(path.read_text())


def test_the_topology_instance_keeps_every_rule_of_the_single_machine_one():
    single, topology = load(SINGLE_MACHINE_INSTANCE), load(TOPOLOGY_INSTANCE)
    for section in SHARED:
        assert topology[section] == single[section], section
    assert topology["run_coordinator"]["class"] == single["run_coordinator"]["class"]
    # the single-machine default stays broker-free with logs on local disk
    assert "compute_logs" not in single and "execution" not in single


def test_the_celery_file_is_valid_executor_config_with_late_acknowledgement(monkeypatch):
    monkeypatch.setenv("LOMBA_CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("LOMBA_CELERY_RESULT_BACKEND", "redis://127.0.0.1:6379/1")
    config = get_validated_config(str(CELERY_CONFIG_FILE))  # what `worker start -y` does
    assert config["broker"] == "redis://127.0.0.1:6379/0"
    source = config["config_source"]
    assert source["task_acks_late"] and source["task_reject_on_worker_lost"]
    assert source["broker_transport_options"]["visibility_timeout"] >= 900


def test_the_helm_values_carry_the_same_run_limits():
    single = load(SINGLE_MACHINE_INSTANCE)["concurrency"]["runs"]
    values = load(PROJECT_ROOT / "deploy" / "helm" / "values.yaml")
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert queued["maxConcurrentRuns"] == single["max_concurrent_runs"]
    (ig,) = single["tag_concurrency_limits"]
    assert queued["tagConcurrencyLimits"] == [
        {"key": ig["key"], "value": {"applyLimitPerUniqueValue": True}, "limit": ig["limit"]}
    ]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"][:2] == ["-m", "lomba_pipeline.definitions"]
