"""The three real SDKs (zhipuai, mistralai, google-genai) against a local fake speaking their APIs:
success, 429 then success, 500, timeout, invalid JSON; every HTTP attempt is accounted for."""

import base64
import json
import threading
import time

import pytest

from lomba_pipeline.catalog.extraction.record import record_from_provider_json
from lomba_pipeline.resources.ai import (
    AiConfig,
    ProviderFailed,
    RateLimiter,
    build_ai_providers,
    is_placeholder_only,
)
from lomba_pipeline_tests.fakes.ai_providers import DEFAULT_RECORD, FakeAiProviders

pytestmark = pytest.mark.timeout(120)

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture(scope="module")
def fake():
    with FakeAiProviders() as server:
        yield server


@pytest.fixture
def providers(fake):
    fake.calls.clear()
    fake._failures.clear()
    config = AiConfig(
        zhipu_api_key="test-zhipu-key", zhipu_base_url=fake.zhipu_base_url,
        mistral_api_key="test-mistral-key", mistral_base_url=fake.url,
        gemini_api_key="test-gemini-key", gemini_base_url=fake.url,
        timeout_seconds=0.5, max_attempts=3, backoff_seconds=0.01,
    )
    return build_ai_providers(config)


def call_zhipu(providers):
    return providers.zhipu.extract_json(
        "Ekstrak data lomba", "LOMBA ESAI NASIONAL 2025",
        validate=lambda data: record_from_provider_json(data, "zhipu"),
    )


def call_mistral(providers):
    return providers.mistral.ocr("data:image/png;base64," + base64.b64encode(PNG).decode())


def call_gemini(providers):
    return providers.gemini.extract_json(
        PNG, "image/png", "Ekstrak data lomba dari poster ini",
        validate=lambda data: record_from_provider_json(data, "gemini"),
    )


CASES = {
    "zhipu": (call_zhipu, "/chat/completions"),
    "mistral": (call_mistral, "/v1/ocr"),
    "gemini": (call_gemini, ":generateContent"),
}


@pytest.mark.parametrize("name", CASES)
def test_success_reads_reply_and_usage(fake, providers, name):
    call, path = CASES[name]
    reply = call(providers)
    assert [a.outcome for a in reply.attempts] == ["ok"]
    assert len(fake.calls_to(path)) == 1
    if name == "mistral":
        assert "Pendaftaran: 1 - 20 Januari 2025" in reply.text
        request = fake.calls_to(path)[0]
        assert request.headers["authorization"] == "Bearer test-mistral-key"
        assert request.json()["document"]["image_url"].startswith("data:image/png;base64,")
    else:
        assert reply.value.organizer == "BEM FH UI"
        assert reply.value.end_date.isoformat() == "2025-01-20"
        assert reply.value.extracted_from["organizer"] == name
        tokens = (120, 30) if name == "zhipu" else (300, 25)
        assert (reply.attempts[0].prompt_tokens, reply.attempts[0].completion_tokens) == tokens
    if name == "zhipu":
        body = fake.calls_to(path)[0].json()
        assert body["response_format"] == {"type": "json_object"}
        assert fake.calls_to(path)[0].headers["authorization"] == "Bearer test-zhipu-key"
    if name == "gemini":
        request = fake.calls_to(path)[0]
        assert request.headers["x-goog-api-key"] == "test-gemini-key"
        inline = request.json()["contents"][0]["parts"][0]
        assert base64.b64decode((inline.get("inlineData") or inline["inline_data"])["data"]) == PNG


@pytest.mark.parametrize("name", CASES)
def test_429_then_success_is_retried_with_backoff(fake, providers, name):
    call, path = CASES[name]
    fake.fail_next(path, status=429, body={"error": {"code": 429, "message": "slow down"}})
    reply = call(providers)
    assert [a.outcome for a in reply.attempts] == ["rate_limited", "ok"]
    assert "429" in reply.attempts[0].error
    assert len(fake.calls_to(path)) == 2


@pytest.mark.parametrize("name", CASES)
def test_500_exhausts_retries_and_fails_with_every_attempt_recorded(fake, providers, name):
    call, path = CASES[name]
    fake.fail_next(path, status=500, times=5)
    with pytest.raises(ProviderFailed) as failed:
        call(providers)
    assert failed.value.outcome == "error"
    assert [a.outcome for a in failed.value.attempts] == ["error"] * 3  # max_attempts
    assert all("500" in a.error for a in failed.value.attempts)
    assert len(fake.calls_to(path)) == 3
    assert name in str(failed.value)


@pytest.mark.parametrize("name", CASES)
def test_timeout_is_retried_then_reported_as_timeout(fake, providers, name):
    call, path = CASES[name]
    fake.fail_next(path, hang_seconds=1.5, times=3)
    started = time.monotonic()
    with pytest.raises(ProviderFailed) as failed:
        call(providers)
    assert failed.value.outcome == "timeout"
    assert [a.outcome for a in failed.value.attempts] == ["timeout"] * 3
    assert time.monotonic() - started < 3.5  # 3 × 0.5 s timeouts + short backoff, not 3 × 1.5 s


@pytest.mark.parametrize("name", ["zhipu", "gemini"])
def test_invalid_json_reply_is_retried_once_then_fails(fake, providers, name):
    call, path = CASES[name]
    queue = fake.queue_zhipu if name == "zhipu" else fake.queue_gemini
    queue("Berikut datanya: judul LOMBA ESAI", "```json\n{\"title\": \"LOMBA\"")
    with pytest.raises(ProviderFailed) as failed:
        call(providers)
    assert failed.value.outcome == "invalid_json"
    assert [a.outcome for a in failed.value.attempts] == ["invalid_json", "invalid_json"]
    assert len(fake.calls_to(path)) == 2


@pytest.mark.parametrize("name", ["zhipu", "gemini"])
def test_invalid_json_once_then_valid_succeeds(fake, providers, name):
    call, path = CASES[name]
    queue = fake.queue_zhipu if name == "zhipu" else fake.queue_gemini
    queue("[1, 2, 3]", "```json\n" + json.dumps(DEFAULT_RECORD) + "\n```")
    reply = call(providers)
    assert [a.outcome for a in reply.attempts] == ["invalid_json", "ok"]
    assert reply.value.title == "LOMBA ESAI NASIONAL 2025"


@pytest.mark.parametrize("name", ["zhipu", "gemini"])
def test_json_that_does_not_fit_the_schema_is_invalid(fake, providers, name):
    call, _ = CASES[name]
    queue = fake.queue_zhipu if name == "zhipu" else fake.queue_gemini
    bad = json.dumps({"title": "X", "end_date": "minggu depan"})
    queue(bad, bad)
    with pytest.raises(ProviderFailed) as failed:
        call(providers)
    assert failed.value.outcome == "invalid_json"
    assert "end_date" in failed.value.attempts[-1].error


@pytest.mark.parametrize("name", CASES)
def test_garbled_http_body_is_retried_once_then_fails(fake, providers, name):
    call, path = CASES[name]
    fake.fail_next(path, status=200, raw=b"<html>upstream proxy error</html>", times=2)
    with pytest.raises(ProviderFailed) as failed:
        call(providers)
    assert failed.value.outcome == "invalid_json"
    assert len(fake.calls_to(path)) == 2


def test_ocr_markdown_with_only_image_placeholders_is_a_failure(fake, providers):
    fake.queue_ocr(("![img-0.jpeg](img-0.jpeg)\n\n![img-1.jpeg](img-1.jpeg)", None))
    with pytest.raises(ProviderFailed) as failed:
        call_mistral(providers)
    assert failed.value.outcome == "empty"
    assert is_placeholder_only("![img-0.jpeg](img-0.jpeg)")
    assert not is_placeholder_only("![img-0.jpeg](img-0.jpeg)\nLOMBA POSTER")


def test_concurrency_bound_per_provider_holds(fake):
    fake.call_latency = 0.2
    try:
        config = AiConfig(zhipu_api_key="k", zhipu_base_url=fake.zhipu_base_url,
                          concurrency=2, requests_per_minute=0, backoff_seconds=0.01)
        zhipu = build_ai_providers(config).zhipu
        fake.max_in_flight = 0
        threads = [threading.Thread(target=zhipu.extract_json, args=("s", f"item {i}"))
                   for i in range(6)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
    finally:
        fake.call_latency = 0.0
    assert fake.max_in_flight == 2
    assert elapsed >= 0.6  # 6 calls, 2 at a time, 0.2 s each


def test_requests_per_minute_spaces_call_starts():
    limiter = RateLimiter(per_minute=600)  # one start per 0.1 s
    starts = []
    for _ in range(5):
        limiter.wait()
        starts.append(time.monotonic())
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 0.09


@pytest.mark.parametrize("name", ["zhipu", "gemini"])
def test_reply_of_the_wrong_shape_is_a_recorded_failure_not_a_crash(fake, providers, name):
    call, path = CASES[name]
    wrong = (
        {"choices": [{"index": 0, "message": None}], "usage": "lots"}
        if name == "zhipu"
        else {"candidates": [{"content": {"parts": "not a list"}}]}
    )
    fake.fail_next(path, status=200, body=wrong, times=2)
    with pytest.raises(ProviderFailed) as failed:
        call(providers)
    assert failed.value.outcome == "invalid_json"
    assert failed.value.attempts[-1].error  # says what was wrong
    assert len(fake.calls_to(path)) == 2
