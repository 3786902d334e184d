"""Light Instagram jobs run their steps in the run's own process on one machine (a process per
step costs seconds each); in the multi-machine topology they follow Celery, whose instagram
queue keeps Instagram calls on the machines the accounts know."""

from lomba_pipeline.definitions import build_definitions

LIGHT = ("ig_reply_job", "ig_post_job", "ig_report_job")


def test_one_machine_runs_the_light_instagram_jobs_in_process():
    defs = build_definitions()
    assert {n: defs.resolve_job_def(n).executor_def.name for n in LIGHT} == dict.fromkeys(
        LIGHT, "in_process"
    )


def test_the_topology_sends_the_instagram_steps_to_celery():
    from lomba_pipeline.distributed.definitions import defs

    topology = defs()  # loads: the sensor and schedules target these jobs, not the light ones
    executors = {n: topology.resolve_job_def(n).executor_def.name for n in LIGHT[:2]}
    assert executors == dict.fromkeys(LIGHT[:2], "celery")
