"""Login throttling: an atomic counter per (username, client) and per client, a progressive delay
instead of a locked username, X-Forwarded-For believed only from trusted proxies.

The panel's clock is frozen: "after the delay" means moving ``admin_server.clock``, not sleeping.
"""

import concurrent.futures
import dataclasses
import datetime as dt

import httpx
import pytest

from lomba_pipeline.admin.app import create_app
from lomba_pipeline.admin.throttle import ThrottlePolicy
from lomba_pipeline_tests.review.conftest import PASSWORD, FrozenClock, LiveServer
from lomba_pipeline_tests.review.http_client import csrf_from, login_status

pytestmark = pytest.mark.timeout(120)
POLICY = ThrottlePolicy()  # the panel's default
WRONG = "salah-salah-salah"


def attempt(base_url: str, username: str, password: str, headers=None, **client_options):
    with httpx.Client(base_url=base_url, follow_redirects=False, timeout=60,
                      **client_options) as client:
        token = csrf_from(client.get("/login").text)
        return client.post("/login", headers=headers or {}, data={
            "username": username, "password": password, "csrf_token": token})


def from_address(address: str) -> dict:
    """Client options for a request that really comes from another loopback address."""
    return {"transport": httpx.HTTPTransport(local_address=address)}


def throttle_rows(postgres) -> dict[str, dict]:
    with postgres.cursor() as cur:
        cur.execute("SELECT bucket, attempts, throttled FROM admin_login_throttle")
        return {r["bucket"]: dict(r) for r in cur.fetchall()}


def test_thirty_parallel_wrong_passwords_check_at_most_the_limit(admin_server, reviewer, postgres):
    with concurrent.futures.ThreadPoolExecutor(30) as pool:
        codes = list(pool.map(lambda _: attempt(admin_server.url, "rina", WRONG).status_code,
                              range(30)))
    checked = codes.count(401)  # 401 = the password was compared with the hash and was wrong
    assert checked == POLICY.free_per_user_client
    assert codes.count(429) == 30 - checked
    rows = throttle_rows(postgres)
    assert rows["user:rina|127.0.0.1"]["attempts"] == checked
    assert rows["user:rina|127.0.0.1"]["throttled"] == 30 - checked
    with postgres.cursor() as cur:  # counted, not written to the timeline under a chosen name
        cur.execute("SELECT kind FROM events")
        assert {r["kind"] for r in cur.fetchall()} == {"auth.user_created"}  # the fixture's


def test_the_real_user_gets_in_after_the_progressive_delay(admin_server, reviewer):
    base = admin_server.url
    for _ in range(POLICY.free_per_user_client):
        assert attempt(base, "rina", WRONG).status_code == 401
    waits = []
    for _ in range(3):
        blocked = attempt(base, "rina", PASSWORD)
        assert blocked.status_code == 429
        assert "Terlalu banyak percobaan" in blocked.text
        wait = int(blocked.headers["retry-after"])
        waits.append(wait)
        admin_server.clock.advance(wait)
        assert attempt(base, "rina", WRONG).status_code == 401  # one more guess after each wait
    assert waits == [2, 4, 8]  # each failure doubles the wait: slow for a guesser, never a lock
    final = attempt(base, "rina", PASSWORD)
    assert final.status_code == 429
    admin_server.clock.advance(int(final.headers["retry-after"]))
    assert attempt(base, "rina", PASSWORD).status_code == 303
    # success cleared the counter: a typo now costs nothing
    assert attempt(base, "rina", WRONG).status_code == 401
    assert attempt(base, "rina", PASSWORD).status_code == 303


def test_an_attacker_cannot_lock_out_the_username(admin_server, reviewer):
    for _ in range(12):
        attempt(admin_server.url, "bos", WRONG)  # from 127.0.0.1, the admin's name
    assert attempt(admin_server.url, "bos", PASSWORD).status_code == 429  # that client waits
    # the admin on another machine signs in at once
    assert login_status(admin_server.url, "bos", PASSWORD, **from_address("127.0.0.2")) == 303


def test_one_client_guessing_many_usernames_is_slowed_down(admin_server, reviewer, postgres):
    codes = [attempt(admin_server.url, f"tebak{i}", WRONG).status_code
             for i in range(POLICY.free_per_client + 3)]
    assert codes[:POLICY.free_per_client] == [401] * POLICY.free_per_client
    assert codes[POLICY.free_per_client:] == [429] * 3
    assert throttle_rows(postgres)["client:127.0.0.1"]["attempts"] == POLICY.free_per_client


def test_forwarded_for_is_ignored_without_a_trusted_proxy(admin_server, reviewer, postgres):
    codes = [attempt(admin_server.url, "rina", WRONG,
                     headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
             for i in range(8)]
    assert codes == [401] * 5 + [429] * 3  # a new made-up address per try does not help
    assert set(throttle_rows(postgres)) == {"client:127.0.0.1", "user:rina|127.0.0.1"}


@pytest.fixture
def behind_proxy(postgres, media_store, whatsapp, review_settings, admin_port):
    """The panel behind a reverse proxy on 127.0.0.1 (LOMBA_ADMIN_TRUSTED_PROXIES)."""
    settings = dataclasses.replace(
        review_settings,
        admin=dataclasses.replace(review_settings.admin, trusted_proxies=("127.0.0.1/32",)),
    )
    clock = FrozenClock()
    server = LiveServer(create_app(settings, postgres, media_store, whatsapp, clock=clock),
                        admin_port, clock).start()
    yield server
    server.stop()


def test_behind_a_trusted_proxy_each_client_has_its_own_bucket(behind_proxy, reviewer, postgres):
    attacker = {"X-Forwarded-For": "203.0.113.7"}
    for _ in range(5):
        assert attempt(behind_proxy.url, "rina", WRONG, headers=attacker).status_code == 401
    assert attempt(behind_proxy.url, "rina", WRONG, headers=attacker).status_code == 429
    # prepending a made-up hop does not move the attacker to a new bucket
    forged = {"X-Forwarded-For": "198.51.100.99, 203.0.113.7"}
    assert attempt(behind_proxy.url, "rina", WRONG, headers=forged).status_code == 429
    # the real user behind the same proxy is not affected
    user = {"X-Forwarded-For": "198.51.100.2"}
    assert attempt(behind_proxy.url, "rina", PASSWORD, headers=user).status_code == 303
    assert "user:rina|203.0.113.7" in throttle_rows(postgres)
    with postgres.cursor() as cur:
        cur.execute("SELECT data->>'client' AS client FROM events WHERE kind = 'auth.login'")
        assert [r["client"] for r in cur.fetchall()] == ["198.51.100.2"]


def test_ipv6_clients_count_per_slash_64(postgres):
    from lomba_pipeline.admin.throttle import reserve_attempt
    from lomba_pipeline_tests.review.conftest import FROZEN_NOW

    def try_from(address: str):
        with postgres.connection() as conn:
            return reserve_attempt(conn, "rina", address, now=FROZEN_NOW, policy=POLICY)

    # one subscriber rotating through its /64 is one client
    waits = [try_from(f"2001:db8:1:2::{i:x}") for i in range(1, 8)]
    assert waits[:5] == [None] * 5 and all(w and w > 0 for w in waits[5:])
    assert try_from("2001:db8:1:3::1") is None  # the neighbouring /64 is someone else
    assert try_from("::ffff:192.0.2.1") is None  # an IPv4 client seen over IPv6 is that IPv4
    assert "client:192.0.2.1" in throttle_rows(postgres)


def test_waiting_out_the_longest_delay_does_not_buy_free_attempts(postgres):
    from lomba_pipeline.admin.throttle import reserve_attempt
    from lomba_pipeline_tests.review.conftest import FROZEN_NOW

    now = FROZEN_NOW
    with postgres.connection() as conn:
        for _ in range(30):  # a guesser who always waits exactly as long as told
            wait = reserve_attempt(conn, "rina", "192.0.2.9", now=now, policy=POLICY)
            if wait is not None:
                now += dt.timedelta(seconds=wait)
    assert wait == POLICY.max_delay_seconds  # the cap, never back to free attempts
    later = now + dt.timedelta(seconds=POLICY.max_delay_seconds + 1)
    with postgres.connection() as conn:
        assert reserve_attempt(conn, "rina", "192.0.2.9", now=later, policy=POLICY) is None
        assert reserve_attempt(conn, "rina", "192.0.2.9", now=later, policy=POLICY) is not None
    quiet = later + dt.timedelta(seconds=POLICY.forget_after_seconds + 1)
    with postgres.connection() as conn:  # a whole quiet day later the slate is clean
        assert all(reserve_attempt(conn, "rina", "192.0.2.9", now=quiet, policy=POLICY) is None
                   for _ in range(POLICY.free_per_user_client))
