"""One account's Instagram requests take turns wherever they are sent from (sensor, runs, other
machines): consecutive requests keep instagrapi's rhythm, the first after a quiet spell goes at
once. Turns are reserved in the real Postgres; the clock and the sleep are the test's."""

from lomba_pipeline.resources.instagram_client import Credentials, InstagramSessions
from lomba_pipeline.resources.instagram_pacing import RequestPacer
from lomba_pipeline.secrets_box import secret_box_from_settings
from lomba_pipeline_tests.test_instagram_client import SESSIONID, MiniInstagram


class Clock:
    def __init__(self, at: float):
        self.at = at
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.at += seconds


def pacer(postgres, clock, username="op.ig_001", delay=1.0):
    # the random pause fixed at its middle: gap = delay + 2 x delay
    return RequestPacer(postgres, username, delay, clock=clock, sleep=clock.sleep,
                        pause=lambda low, high: (low + high) / 2)


def test_requests_of_one_account_take_turns_across_processes(postgres):
    clock = Clock(1_800_000_000.0)
    sensor, run = pacer(postgres, clock), pacer(postgres, clock)  # two processes, one account
    other = pacer(postgres, clock, username="op.ig_002")

    assert sensor.wait_turn() == 0  # the first request after a quiet spell goes at once
    assert run.wait_turn() == 3.0  # back to back from another process: the gap
    assert other.wait_turn() == 0  # another account has its own turns
    clock.at += 1.0  # the next request comes 1 s after the last turn began
    assert sensor.wait_turn() == 2.0
    assert clock.slept == [3.0, 2.0]

    clock.at += 600  # ten quiet minutes
    assert run.wait_turn() == 0

    # a turn an hour ahead (a machine whose clock ran fast reserved it): a bounded wait
    with postgres.cursor() as cur:
        cur.execute("UPDATE ig_request_pacing SET next_at = to_timestamp(%s)",
                    (clock.at + 3600,))
    assert sensor.wait_turn() == 40.0  # ten of the longest gaps (4 x 1 s), not an hour


def test_pipeline_clients_pace_by_turns_instead_of_sleeping_before_every_request(
    postgres, settings
):
    """instagrapi's own pause before every request is off; each request reserved a turn."""
    with MiniInstagram() as fake:
        sessions = InstagramSessions.for_pipeline(
            postgres, secret_box_from_settings(settings), api_base_url=fake.url,
            request_delay_seconds=0.001,
        )
        client = sessions.login("scraper", Credentials(sessionid=SESSIONID))
        assert (client.request_timeout, client.delay_range) == (0, None)
        client.user_medias_v1(77, amount=1)
        again = sessions.client_for("scraper")  # a new process's client: same turns
        again.user_medias_v1(77, amount=1)
    with postgres.cursor() as cur:
        cur.execute("SELECT username FROM ig_request_pacing")
        assert cur.fetchall() == [{"username": "scraper"}]
    assert len(fake.calls_to("/feed/user/77/")) == 2
