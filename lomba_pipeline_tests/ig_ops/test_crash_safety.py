"""A crash between "sending" and "done" never produces a second reply or post.

The first run is a real separate process, killed with SIGKILL while Instagram has (or has not)
applied the write; the next run reconciles against the fake Instagram.
"""

import multiprocessing
import os
import signal
import time

import pytest

from lomba_pipeline.ig_ops.store import list_pending_approvals
from lomba_pipeline_tests.ig_ops.world import run_in_child, uid, wib

pytestmark = pytest.mark.timeout(180)


def _crash_during(world, kind: str, now, until) -> None:
    """Run the lane job in a child process and SIGKILL it once ``until()`` holds."""
    ctx = multiprocessing.get_context("fork")  # fast start; run_in_child drops inherited pools
    child = ctx.Process(
        target=run_in_child,
        args=(
            kind,
            "ig_001",
            now.isoformat(),
            world.fake.url,
            world.object_store.root,
            world.object_store.public_base_url,
            world.postgres.database_url,
        ),
    )
    child.start()
    deadline = time.time() + 90
    while not until():
        assert child.is_alive(), "child finished before the crash point"
        assert time.time() < deadline, "crash point never reached"
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)


def _status(world, kind):
    return world.sql("SELECT status FROM ig_actions WHERE kind = %s", (kind,))


def test_reply_applied_by_instagram_before_the_crash_is_not_sent_again(world, fake):
    comment = world.comment("ig_001", "Min, link daftar dong")
    fake.hang_after("/comment/")
    _crash_during(world, "reply", wib("2026-11-20 09:00"), lambda: fake.replies_to(comment))
    assert _status(world, "comment_reply") == [("sending",)]

    assert world.run_reply("ig_001", wib("2026-11-20 09:01")).success
    assert len(fake.replies_to(comment)) == 1
    assert _status(world, "comment_reply") == [("done",)]
    assert world.sql("SELECT count(*) FROM events WHERE kind = 'ig.action_reconciled'") == [(1,)]
    assert len(fake.calls_to("/comment/", "POST")) == 1


def test_reply_that_never_reached_instagram_is_sent_exactly_once(world, fake):
    comment = world.comment("ig_001", "Min, link daftar dong")
    fake.fail_next("/comment/", hang_seconds=60)  # hangs before anything is applied
    _crash_during(
        world, "reply", wib("2026-11-20 09:00"), lambda: fake.calls_to("/comment/", "POST")
    )
    assert fake.replies_to(comment) == []
    assert _status(world, "comment_reply") == [("sending",)]

    assert world.run_reply("ig_001", wib("2026-11-20 09:01")).success
    assert len(fake.replies_to(comment)) == 1
    assert _status(world, "comment_reply") == [("done",)]


def test_unknowable_outcome_goes_to_approval_instead_of_a_resend(world, fake):
    comment = world.comment("ig_001", "Min, link daftar dong")
    thread = world.dm("ig_001", "info lomba dong kak")
    fake.hang_after("/broadcast/")
    _crash_during(world, "reply", wib("2026-11-20 09:00"), lambda: fake.sent_in(thread))
    assert _status(world, "dm_reply") == [("sending",)]

    fake.fail_next("/direct_v2/threads/", status=500)  # the existence check cannot answer
    assert world.run_reply("ig_001", wib("2026-11-20 09:01")).success
    assert len(fake.sent_in(thread)) == 1
    assert _status(world, "dm_reply") == [("unknown",)]
    with world.postgres.connection() as conn:
        (pending,) = list_pending_approvals(conn)
    assert (pending["reason"], pending["kind"]) == ("reconcile_unknown", "dm_reply")
    assert len(fake.replies_to(comment)) == 1  # the rest of the lane carried on


def test_post_published_before_the_crash_is_not_published_again(world, fake):
    fake.hang_after("/media/configure/")
    _crash_during(world, "post", wib("2026-11-20 08:00"), lambda: fake.posts_of(uid("ig_001")))
    assert _status(world, "post") == [("sending",)]

    assert world.run_post("ig_001", wib("2026-11-20 08:01")).success
    assert len(fake.posts_of(uid("ig_001"))) == 1
    assert len(fake.calls_to("/media/configure/")) == 1
    assert _status(world, "post") == [("done",)]
