"""50 SIGKILL trials of the post lane against the strict fake: never two posts for one day.

Each trial is one day of ig_001: the post run is a real separate process, killed at a chosen
point (after Instagram applied the post, before it did, or after a random delay), sometimes with
the own feed throttled while the next run reconciles. The next run must leave that day with one
post, or with none and the action waiting for a person; never a second post.
"""

import multiprocessing
import os
import random
import signal
import time
from datetime import date, timedelta

import pytest

from lomba_pipeline_tests.ig_ops.world import build_world, run_in_child, uid, wib

pytestmark = pytest.mark.timeout(900)

TRIALS = 50


def kill_run_at(world, now, until, *, delay: float | None = None) -> bool:
    """Run the post lane in a child; SIGKILL it once ``until()`` holds (or after ``delay``).
    Returns whether it was killed (a random delay may come after the run finished)."""
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(
        target=run_in_child,
        args=(
            "post",
            "ig_001",
            now.isoformat(),
            world.fake.url,
            world.object_store.root,
            world.object_store.public_base_url,
            world.postgres.database_url,
        ),
    )
    child.start()
    deadline = time.monotonic() + 60
    start = time.monotonic()
    while child.is_alive():
        if (delay is not None and time.monotonic() - start >= delay) or (
            delay is None and until()
        ):
            os.kill(child.pid, signal.SIGKILL)
            child.join(10)
            return True
        assert time.monotonic() < deadline, "crash point never reached"
        time.sleep(0.02)
    return False


def test_fifty_sigkill_trials_never_post_twice(
    fake, postgres, local_store, tmp_path, monkeypatch, settings
):
    world = build_world(
        fake, postgres, local_store, tmp_path, monkeypatch, settings,
        accounts=["ig_001"], posts_per_account=TRIALS,
    )
    rng = random.Random(20261201)  # fixed: the same trials every run
    owner = uid("ig_001")
    outcomes = {"done": 0, "unknown": 0}
    for trial in range(TRIALS):
        day = date(2026, 10, 1) + timedelta(days=trial)
        now = wib(f"{day.isoformat()} 08:00")
        before = len(fake.posts_of(owner))
        mode = rng.choice(["after_apply", "before_apply", "random"])
        if mode == "after_apply":
            fake.hang_after("/media/configure/")
            kill_run_at(world, now, lambda b=before: len(fake.posts_of(owner)) > b)
        elif mode == "before_apply":
            calls = len(fake.calls_to("/media/configure/"))
            fake.fail_next("/media/configure/", hang_seconds=30)
            kill_run_at(
                world, now, lambda c=calls: len(fake.calls_to("/media/configure/")) > c
            )
        else:
            # the upload settles 0.3 s before configure (conftest): kills land before, inside
            # and after the publish
            kill_run_at(world, now, lambda: False, delay=rng.uniform(0.05, 1.0))
        if trial % 3 == 0:  # the own feed refuses while the next run reconciles
            fake.inject(rng.choice(["429", "please_wait"]), times=2, path="/feed/user/")
        assert world.run_post("ig_001", now.replace(minute=5)).success
        fake.injections.clear()  # an unused refusal must not reach the next trial
        ((status,),) = world.sql(
            "SELECT status FROM ig_actions WHERE idempotency_key = %s",
            (f"post:ig_001:{day.isoformat()}",),
        )
        added = len(fake.posts_of(owner)) - before
        assert added <= 1, f"trial {trial} ({mode}): {added} posts for one day"
        assert (status, added) in {("done", 1), ("unknown", 1), ("unknown", 0)}, (
            f"trial {trial} ({mode}): {status} with {added} posts"
        )
        outcomes["done" if status == "done" else "unknown"] += 1
    captions = [m.caption for m in fake.posts_of(owner)]
    assert len(captions) == len(set(captions))  # no content file was published twice either
    print(f"\n{TRIALS} trials: {outcomes}, posts {len(captions)}, double posts 0")
