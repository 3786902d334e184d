"""The extraction cost ceiling, with the real SDKs against the local fake and the real Postgres:
an item is tried at most N times with a growing wait (on an injected clock), a 429's Retry-After
is waited for (on an injected sleep, never the wall clock), and the attempts ledger adds up to
exactly the calls the fake providers answered, with OCR pages and an estimated cost."""

import base64
import datetime as dt
import json

import pytest

from lomba_pipeline.catalog.extraction.chain import Item
from lomba_pipeline.catalog.extraction.rules import EXTRACTION_TEXT_LIMIT
from lomba_pipeline.catalog.extraction.runner import build_extractor, run_extraction
from lomba_pipeline.catalog.extraction.store import ai_cost_per_day
from lomba_pipeline.resources.ai import (
    DEFAULT_PRICES,
    AiConfig,
    ProviderFailed,
    RetryPolicy,
    build_ai_providers,
)
from lomba_pipeline_tests.fakes.ai_providers import DEFAULT_RECORD, FakeAiProviders

pytestmark = pytest.mark.timeout(180)

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
START = dt.datetime(2027, 3, 1, 1, 0, tzinfo=dt.UTC)


class FakeClock:
    def __init__(self, now: dt.datetime = START):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += dt.timedelta(**delta)


class RecordedSleep:
    """Stands in for time.sleep: remembers each wait instead of waiting."""

    def __init__(self):
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture(scope="module")
def fake():
    with FakeAiProviders() as server:
        yield server


@pytest.fixture
def fresh(fake):
    fake.calls.clear()
    fake._failures.clear()
    for queue in fake._queues.values():
        queue.clear()
    for provider in fake.counts:
        fake.counts[provider] = 0
        fake._throttles[provider].clear()
    fake.ocr_pages = 0
    fake.zhipu_reply = lambda text: json.dumps(DEFAULT_RECORD)
    return fake


def config_for(fake, **overrides) -> AiConfig:
    values = dict(
        zhipu_api_key="test-zhipu-key", zhipu_base_url=fake.zhipu_base_url,
        mistral_api_key="test-mistral-key", mistral_base_url=fake.url,
        gemini_api_key="test-gemini-key", gemini_base_url=fake.url,
        timeout_seconds=2.0, max_attempts=3, backoff_seconds=0.01, requests_per_minute=0,
    )
    values.update(overrides)
    return AiConfig(**values)


CALLS = {
    "zhipu": lambda p: p.zhipu.extract_json("Ekstrak data lomba", "LOMBA ESAI 2027"),
    "mistral": lambda p: p.mistral.ocr("data:image/png;base64," + base64.b64encode(PNG).decode()),
    "gemini": lambda p: p.gemini.extract_json(PNG, "image/png", "Ekstrak data lomba"),
}


# -- Retry-After --------------------------------------------------------------------------------
@pytest.mark.parametrize("provider", CALLS)
def test_429_with_retry_after_waits_at_least_that_long_before_the_next_call(fresh, provider):
    fresh.throttle_next(provider, retry_after="2")
    sleep = RecordedSleep()
    providers = build_ai_providers(config_for(fresh), sleep=sleep)
    reply = CALLS[provider](providers)
    assert [a.outcome for a in reply.attempts] == ["rate_limited", "ok"]
    assert "429" in reply.attempts[0].error
    assert len(sleep.waits) == 1 and sleep.waits[0] >= 2.0  # not the 0.01 s backoff
    assert fresh.counts[provider] == 2


@pytest.mark.parametrize("provider", CALLS)
def test_a_retry_after_longer_than_the_limit_ends_the_call_instead_of_holding_a_worker(
    fresh, provider
):
    fresh.throttle_next(provider, retry_after="3600")
    sleep = RecordedSleep()
    providers = build_ai_providers(config_for(fresh, retry_after_max_seconds=30), sleep=sleep)
    with pytest.raises(ProviderFailed) as failed:
        CALLS[provider](providers)
    assert failed.value.outcome == "rate_limited"
    assert sleep.waits == [] and fresh.counts[provider] == 1


# -- the attempt cap per item ------------------------------------------------------------------
def add_item(postgres, url, caption="LOMBA ESAI 2027\nPendaftaran: 1 - 20 Maret 2027", image_id=None):
    with postgres.cursor() as cur:
        cur.execute(
            "INSERT INTO raw_items (source_kind, source_name, canonical_url, caption, posted_at, "
            "image_id) VALUES ('ig', 'infolomba', %s, %s, '2027-02-20', %s) RETURNING id",
            (url, caption, image_id),
        )
        return cur.fetchone()["id"]


def add_poster(postgres, store, data: bytes) -> int:
    stored = store.put(data, "image/png")
    with postgres.cursor() as cur:
        cur.execute(
            "INSERT INTO images (sha256, object_key, public_url, content_type, size_bytes) "
            "VALUES (%s, %s, %s, 'image/png', %s) RETURNING id",
            (stored.sha256, stored.key, stored.public_url, stored.size),
        )
        return cur.fetchone()["id"]


def item_state(postgres, raw_id):
    with postgres.cursor() as cur:
        cur.execute(
            "SELECT r.needs_extraction, r.extraction_tries, r.extraction_next_at, "
            "c.extraction_status FROM raw_items r LEFT JOIN competitions c ON c.raw_item_id = r.id "
            "WHERE r.id = %s", (raw_id,),
        )
        return cur.fetchone()


def test_an_item_failing_three_times_is_not_sent_a_fourth_time(postgres, local_store, fresh):
    fresh.fail_next("/chat/completions", status=500, times=100)
    clock = FakeClock()
    extractor = build_extractor(config_for(fresh, max_attempts=1), "zhipu", local_store)
    policy = RetryPolicy(max_attempts=3, delays_hours=(0, 24, 72))
    raw_id = add_item(postgres, "https://www.instagram.com/p/CAP1/")

    def drain():
        return run_extraction(postgres, extractor, workers=1, policy=policy, clock=clock)

    drain()  # attempt 1
    state = item_state(postgres, raw_id)
    assert (state["extraction_tries"], state["extraction_status"]) == (1, "failed")
    assert state["needs_extraction"] and state["extraction_next_at"] == START  # next run
    drain()  # attempt 2, the next run
    assert item_state(postgres, raw_id)["extraction_next_at"] == START + dt.timedelta(days=1)
    assert drain().extracted == 0  # still within the day's wait: not sent
    assert len(fresh.calls_to("/chat/completions")) == 2
    clock.advance(days=1, minutes=1)
    last = drain()  # attempt 3
    state = item_state(postgres, raw_id)
    assert (state["extraction_tries"], state["extraction_status"]) == (3, "partial")
    assert not state["needs_extraction"] and last.left_for_review == 1
    # a later scrape re-queues it and time goes by: the ceiling holds
    with postgres.cursor() as cur:
        cur.execute("UPDATE raw_items SET needs_extraction = true WHERE id = %s", (raw_id,))
    clock.advance(days=30)
    assert drain().extracted == 0
    assert len(fresh.calls_to("/chat/completions")) == 3


# -- the ledger adds up ------------------------------------------------------------------------
def test_attempts_ledger_totals_equal_the_calls_the_fake_providers_counted(
    postgres, local_store, fresh
):
    # half the text replies leave organizer and levels empty → OCR; one OCR reply holds only
    # placeholders → Gemini; one 429 on the text step and one 500 on OCR along the way
    partial = {k: v for k, v in DEFAULT_RECORD.items() if k not in ("organizer", "levels")}
    fresh.zhipu_reply = lambda text: json.dumps(DEFAULT_RECORD if "GENAP" in text else partial)
    fresh.queue_ocr(("![img-0.jpeg](img-0.jpeg)", None))
    fresh.throttle_next("zhipu", retry_after="1")
    fresh.fail_next("/v1/ocr", status=500, times=1)
    for i in range(6):
        kind = "GENAP" if i % 2 == 0 else "GANJIL"
        image_id = add_poster(postgres, local_store, PNG + bytes([i]))
        add_item(postgres, f"https://www.instagram.com/p/LEDGER{i}/",
                 caption=f"LOMBA ESAI {kind} {i}\nPendaftaran: 1 - 20 Maret 2027", image_id=image_id)
    sleep = RecordedSleep()
    config = config_for(fresh)
    extractor = build_extractor(config, "chain", local_store, "data",
                                providers=build_ai_providers(config, sleep=sleep))
    summary = run_extraction(postgres, extractor, workers=2, clock=FakeClock())

    with postgres.cursor() as cur:
        cur.execute("SELECT provider, count(*) AS n, sum(ocr_pages) AS pages, "
                    "sum(prompt_tokens) AS prompt, sum(completion_tokens) AS completion, "
                    "sum(cost_usd)::float AS cost FROM extraction_attempts "
                    "WHERE provider <> 'rules' GROUP BY provider")
        ledger = {r["provider"]: r for r in cur.fetchall()}
    http = {"zhipu": "/chat/completions", "mistral": "/v1/ocr", "gemini": "generateContent"}
    for provider, path in http.items():
        assert ledger[provider]["n"] == len(fresh.calls_to(path)), provider
    assert ledger["zhipu"]["n"] == 7  # 6 records + the throttled call
    assert ledger["mistral"]["n"] == 4 and ledger["gemini"]["n"] == 1  # 3 OCR + the 500; 1 fallback
    assert ledger["mistral"]["pages"] == fresh.ocr_pages == 3
    assert summary.ai_calls == sum(r["n"] for r in ledger.values())
    expected_cost = (
        ledger["gemini"]["prompt"] * DEFAULT_PRICES["gemini_input_per_mtok"] / 1e6
        + ledger["gemini"]["completion"] * DEFAULT_PRICES["gemini_output_per_mtok"] / 1e6
        + 3 * DEFAULT_PRICES["mistral_per_1000_pages"] / 1000
    )
    assert sum(r["cost"] for r in ledger.values()) == pytest.approx(expected_cost)
    assert summary.cost_usd == pytest.approx(expected_cost) and summary.ocr_pages == 3
    assert any(wait >= 1.0 for wait in sleep.waits)  # the 429's Retry-After was honoured
    with postgres.connection() as conn:
        per_day = ai_cost_per_day(conn)
    assert {r["provider"]: r["calls"] for r in per_day} == {p: r["n"] for p, r in ledger.items()}
    assert sum(r["cost_usd"] for r in per_day) == pytest.approx(expected_cost)


# -- bounded work per item ---------------------------------------------------------------------
def test_a_huge_caption_is_sent_and_read_capped(fresh):
    caption = "LOMBA ESAI 2027. Pendaftaran: 1 - 20 Maret 2027. " + "kata " * 200_000  # ~1 MB
    hints = {"description": "deskripsi " * 100_000}
    extractor = build_extractor(config_for(fresh), "zhipu")
    outcome = extractor.extract(Item(raw_item_id=None, caption=caption, hints=hints,
                                     posted_at=dt.date(2027, 2, 20)))
    sent = fresh.calls_to("/chat/completions")[0].json()["messages"][1]["content"]
    # the caption and each hint at most the cap, plus the few header lines around them
    assert len(sent) <= 2 * EXTRACTION_TEXT_LIMIT + 200
    assert [(a.provider, a.outcome) for a in outcome.attempts] == [("zhipu", "ok"), ("rules", "ok")]
    # the rules read the same capped caption: they found its registration period
    assert outcome.mismatches["end_date"] == ("2025-01-20", "2027-03-20")
