"""AI providers: Zhipu GLM (text → JSON for extraction; plain text for Instagram reply drafts),
Mistral OCR (poster → markdown + annotation), Gemini (poster → JSON). The only module that
imports their SDKs.

Every provider call goes through the same guard: a per-provider concurrency bound, a
requests-per-minute limit, a timeout, and tenacity retries with exponential backoff on 429, 5xx,
timeouts and connection errors. Each HTTP attempt becomes an ``Attempt`` (the caller writes them
to ``extraction_attempts``). A reply that is not the JSON asked for is retried once, then fails.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import email.utils
import json
import re
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from lomba_pipeline.settings import AiSettings, ExtractionSettings


@dataclass
class Attempt:
    provider: str
    step: str
    outcome: str  # ok, error, invalid_json, timeout, rate_limited, empty
    latency_ms: int
    error: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    pages: int | None = None  # OCR pages billed (Mistral)
    cost_usd: float | None = None  # estimated from the price table


# Estimated list prices in USD (per million tokens; Mistral OCR per 1000 pages). Overridden by
# the settings' price table (LOMBA_AI_PRICES); only an estimate for the cost ledger.
DEFAULT_PRICES: dict[str, float] = {
    "zhipu_input_per_mtok": 0.0,  # glm-4-flash is free of charge
    "zhipu_output_per_mtok": 0.0,
    "gemini_input_per_mtok": 0.30,
    "gemini_output_per_mtok": 2.50,
    "mistral_per_1000_pages": 1.0,
}


def estimate_cost(attempt: Attempt, prices: dict[str, float]) -> float:
    """The estimated USD cost of one HTTP attempt (0 for one that used nothing)."""
    if attempt.provider == "mistral":
        return (attempt.pages or 0) * prices.get("mistral_per_1000_pages", 0.0) / 1000
    per_in = prices.get(f"{attempt.provider}_input_per_mtok", 0.0)
    per_out = prices.get(f"{attempt.provider}_output_per_mtok", 0.0)
    return ((attempt.prompt_tokens or 0) * per_in + (attempt.completion_tokens or 0) * per_out) / 1e6


@dataclass
class ProviderReply:
    provider: str
    data: dict[str, Any] | None = None  # the JSON object the provider returned
    text: str | None = None  # OCR markdown
    value: Any = None  # ``data`` as the caller's validator returned it
    attempts: list[Attempt] = field(default_factory=list)


class ProviderFailed(Exception):
    """A provider gave no usable answer after its retries; ``attempts`` says what happened."""

    def __init__(self, provider: str, outcome: str, message: str, attempts: list[Attempt]):
        super().__init__(f"{provider}: {outcome}: {message}")
        self.provider = provider
        self.outcome = outcome
        self.attempts = attempts


@dataclass(frozen=True)
class AiConfig(AiSettings):
    """What the provider clients read: the settings' ``ai`` section plus the limits that are
    not settings. ``prices`` here is the whole table (defaults merged with the overrides)."""

    backoff_max_seconds: float = 30.0  # retries wait ``backoff_seconds``, doubling up to this
    # a 429's Retry-After is waited for up to this long; a longer one ends the call (the item's
    # attempt cap and delay take over) instead of holding a worker
    retry_after_max_seconds: float = 60.0
    prices: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_PRICES))


@dataclass(frozen=True)
class RetryPolicy:
    """The cost ceiling per raw item: at most ``max_attempts`` extraction passes; after the
    n-th unfinished pass the item waits ``delays_hours[n-1]`` (the last delay repeats) before
    the next, and after the last one it stays ``partial`` for a person in the review queue."""

    max_attempts: int = 3
    delays_hours: tuple[float, ...] = (0.0, 24.0, 72.0)  # next run, +1 day, +3 days

    def delay_after(self, tries: int) -> dt.timedelta:
        hours = self.delays_hours[min(max(tries, 1), len(self.delays_hours)) - 1] if self.delays_hours else 0
        return dt.timedelta(hours=hours)


# -- limits ------------------------------------------------------------------------------------
class RateLimiter:
    """Spaces call starts evenly: at most ``per_minute`` starts in any minute."""

    def __init__(self, per_minute: int):
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


class CallLimits:
    def __init__(self, concurrency: int, per_minute: int):
        self._slots = threading.BoundedSemaphore(max(1, concurrency))
        self._rate = RateLimiter(per_minute)
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    @contextmanager
    def slot(self):
        with self._slots:
            self._rate.wait()
            with self._lock:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                yield
            finally:
                with self._lock:
                    self.in_flight -= 1


# -- error classification ----------------------------------------------------------------------
def _status_of(exc: BaseException) -> int | None:
    for attr in ("status_code", "code"):
        value = getattr(exc, attr, None)
        if isinstance(value, int):
            return value
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None) if response is not None else None


def classify_error(exc: BaseException) -> tuple[str, bool]:
    """(outcome, worth retrying) for an exception raised by an SDK call."""
    name = type(exc).__name__
    if isinstance(exc, (httpx.TimeoutException, TimeoutError)) or "Timeout" in name:
        return "timeout", True
    if isinstance(exc, json.JSONDecodeError) or "Validation" in name:
        return "invalid_json", False
    status = _status_of(exc)
    if status == 429:
        return "rate_limited", True
    if status is not None and status >= 500:
        return "error", True
    if status is None and (isinstance(exc, httpx.TransportError) or "Connection" in name):
        return "error", True
    return "error", False


def retry_after_seconds(exc: BaseException) -> float | None:
    """The server's ``Retry-After`` on an SDK error, in seconds (delta-seconds or an HTTP date
    read against the response's own ``Date``); None when absent or unreadable.

    zhipuai's ``APIStatusError`` and google-genai's ``APIError`` carry the httpx response as
    ``response``; mistralai's ``MistralError`` as ``raw_response`` (and ``headers``)."""
    headers = None
    for attr in ("response", "raw_response"):
        response = getattr(exc, attr, None)
        if response is not None and getattr(response, "headers", None) is not None:
            headers = response.headers
            break
    if headers is None:
        headers = getattr(exc, "headers", None)
    if headers is None:
        return None
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
        sent = email.utils.parsedate_to_datetime(headers.get("date") or "")
    except (TypeError, ValueError):
        return None
    if when is None or sent is None:
        return None
    return max(0.0, (when - sent) / dt.timedelta(seconds=1))


def _describe(exc: BaseException) -> str:
    status = _status_of(exc)
    text = re.sub(r"\s+", " ", str(exc))[:300]
    return f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "") + f": {text}"


class _InvalidReply(Exception):
    pass


def parse_json_object(text: str | None) -> dict[str, Any]:
    """The JSON object in a model reply (tolerates a ```json fence around it)."""
    if not text:
        raise _InvalidReply("empty reply")
    cleaned = re.sub(r"^\s*```(?:json)?\s*|\s*```\s*$", "", text.strip())
    try:
        value = json.loads(cleaned)
    except json.JSONDecodeError as exc:
        raise _InvalidReply(f"not JSON ({exc.msg} at char {exc.pos}): {text[:80]!r}") from exc
    if not isinstance(value, dict):
        raise _InvalidReply(f"JSON is a {type(value).__name__}, not an object")
    return value


# -- the guarded call --------------------------------------------------------------------------
class GuardedProvider:
    name = ""
    step = ""

    def __init__(self, config: AiConfig, sleep: Callable[[float], None] | None = None):
        self.config = config
        self.limits = CallLimits(config.concurrency, config.requests_per_minute)
        self.sleep = sleep or time.sleep  # injectable: tests run on a fake clock

    def _worth_retrying(self, exc: BaseException) -> bool:
        if not classify_error(exc)[1]:
            return False
        after = retry_after_seconds(exc)
        return after is None or after <= self.config.retry_after_max_seconds

    def _attempt(self, call: Callable[[], Any], attempts: list[Attempt]) -> Any:
        """One call with transport retries; every HTTP attempt is recorded."""
        cfg = self.config
        # exponential with jitter: parallel workers hit by one 429 do not retry in lockstep
        backoff = wait_exponential_jitter(
            initial=cfg.backoff_seconds, max=cfg.backoff_max_seconds, jitter=cfg.backoff_seconds
        )

        def wait(retry_state) -> float:
            # never sooner than the server's Retry-After
            exc = retry_state.outcome.exception() if retry_state.outcome else None
            after = retry_after_seconds(exc) if exc is not None else None
            return max(backoff(retry_state), after or 0.0)

        retrying = Retrying(
            stop=stop_after_attempt(max(1, cfg.max_attempts)),
            wait=wait,
            retry=retry_if_exception(self._worth_retrying),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    with self.limits.slot():
                        started = time.monotonic()
                        try:
                            result = call()
                        except Exception as exc:
                            outcome, _ = classify_error(exc)
                            attempts.append(Attempt(self.name, self.step, outcome,
                                                    _ms(started), _describe(exc)))
                            raise
                    attempts.append(Attempt(self.name, self.step, "ok", _ms(started)))
                    return result
        except Exception as exc:
            outcome, _ = classify_error(exc)
            raise ProviderFailed(self.name, outcome, _describe(exc), attempts) from exc

    def _call_for_json(
        self, call: Callable[[], Any], read: Callable[[Any], tuple],
        validate: Callable[[dict], Any] | None = None,
    ) -> ProviderReply:
        """``read(response) -> (text, prompt_tokens, completion_tokens)``; the text must be a JSON
        object that ``validate`` accepts (it raises ``ValueError`` otherwise). An invalid reply is
        asked for once more, then it is a failure."""
        attempts: list[Attempt] = []
        for round_no in range(2):
            try:
                response = self._attempt(call, attempts)
            except ProviderFailed as exc:
                if exc.outcome == "invalid_json" and round_no == 0:
                    continue  # a garbled HTTP body: ask once more
                raise
            try:
                text, prompt_tokens, completion_tokens = read(response)
            except (AttributeError, IndexError, KeyError, TypeError) as exc:
                # valid JSON but not the provider's reply shape (e.g. no choices)
                text, prompt_tokens, completion_tokens = None, None, None
                shape_error = f"unexpected reply shape: {type(exc).__name__}: {exc}"
            else:
                shape_error = None
            attempts[-1].prompt_tokens = prompt_tokens
            attempts[-1].completion_tokens = completion_tokens
            try:
                if shape_error:
                    raise _InvalidReply(shape_error)
                data = parse_json_object(text)
                value = validate(data) if validate else data
            except (_InvalidReply, ValueError) as exc:
                attempts[-1].outcome = "invalid_json"
                attempts[-1].error = str(exc)
                if round_no == 1:
                    raise ProviderFailed(self.name, "invalid_json", str(exc), attempts) from exc
                continue
            return ProviderReply(self.name, data=data, value=value, attempts=attempts)
        raise AssertionError("unreachable")


def _priced(attempts: list[Attempt], prices: dict[str, float]) -> list[Attempt]:
    for attempt in attempts:
        attempt.cost_usd = estimate_cost(attempt, prices)
    return attempts


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


# -- Zhipu GLM ---------------------------------------------------------------------------------
class ZhipuText(GuardedProvider):
    name, step = "zhipu", "text"

    def __init__(self, config: AiConfig, sleep: Callable[[float], None] | None = None):
        super().__init__(config, sleep)
        from zhipuai import ZhipuAI

        kwargs: dict[str, Any] = {
            "api_key": config.zhipu_api_key,
            "timeout": config.timeout_seconds,
            "max_retries": 0,  # our own retries, so every attempt is counted
        }
        if config.zhipu_base_url:
            kwargs["base_url"] = config.zhipu_base_url
        self.client = ZhipuAI(**kwargs)

    def extract_json(
        self, system_prompt: str, user_text: str, validate: Callable[[dict], Any] | None = None
    ) -> ProviderReply:
        def call():
            return self.client.chat.completions.create(
                model=self.config.zhipu_model,
                messages=[{"role": "system", "content": system_prompt},
                          {"role": "user", "content": user_text}],
                response_format={"type": "json_object"},
                temperature=0.1,
            )

        def read(completion):
            usage = completion.usage
            text = completion.choices[0].message.content if completion.choices else None
            return (text, getattr(usage, "prompt_tokens", None),
                    getattr(usage, "completion_tokens", None))

        return self._call_for_json(call, read, validate)

    def chat_text(
        self, system_prompt: str, user_text: str, *, max_tokens: int = 300,
        temperature: float = 0.5,
    ) -> ProviderReply:
        """One plain-text chat completion (the reply drafter); an empty answer is a failure.

        Same guard as every call (limits, timeout, retries); checking what the text says is the
        caller's job."""
        def call():
            return self.client.chat.completions.create(
                model=self.config.zhipu_model,
                messages=[{"role": "system", "content": system_prompt},
                          {"role": "user", "content": user_text}],
                max_tokens=max_tokens,
                temperature=temperature,
            )

        attempts: list[Attempt] = []
        completion = self._attempt(call, attempts)
        try:  # the SDK does not check the body's shape: a garbled one fails here
            usage = completion.usage
            attempts[-1].prompt_tokens = getattr(usage, "prompt_tokens", None)
            attempts[-1].completion_tokens = getattr(usage, "completion_tokens", None)
            text = completion.choices[0].message.content if completion.choices else None
        except (AttributeError, IndexError, KeyError, TypeError) as exc:
            attempts[-1].outcome = "invalid_json"
            attempts[-1].error = f"unexpected reply shape: {_describe(exc)}"
            raise ProviderFailed(self.name, "invalid_json", attempts[-1].error, attempts) from exc
        if not isinstance(text, str) or not text.strip():
            attempts[-1].outcome = "empty"
            attempts[-1].error = "empty reply"
            raise ProviderFailed(self.name, "empty", "empty reply", attempts)
        return ProviderReply(self.name, text=text, attempts=attempts)


# -- Mistral OCR -------------------------------------------------------------------------------
_PLACEHOLDER = re.compile(r"!\[[^\]]*\]\([^)]*\)")


def is_placeholder_only(markdown: str) -> bool:
    """OCR markdown holding nothing but ``![img-0.jpeg](img-0.jpeg)`` image placeholders."""
    rest = _PLACEHOLDER.sub("", markdown or "")
    return not re.search(r"\w", rest)


class MistralOcr(GuardedProvider):
    name, step = "mistral", "ocr"

    def __init__(self, config: AiConfig, sleep: Callable[[float], None] | None = None):
        super().__init__(config, sleep)
        from mistralai.client import Mistral

        kwargs: dict[str, Any] = {
            "api_key": config.mistral_api_key,
            "timeout_ms": int(config.timeout_seconds * 1000),
        }
        if config.mistral_base_url:
            kwargs["server_url"] = config.mistral_base_url
        self.client = Mistral(**kwargs)

    def ocr(self, image_url: str, json_schema: dict[str, Any] | None = None) -> ProviderReply:
        """``image_url``: a public URL or a ``data:image/...;base64,`` URL."""
        def call():
            kwargs: dict[str, Any] = {
                "model": self.config.mistral_ocr_model,
                "document": {"type": "image_url", "image_url": image_url},
            }
            if json_schema is not None:
                kwargs["document_annotation_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": "competition", "schema": json_schema, "strict": False},
                }
            return self.client.ocr.process(**kwargs)

        attempts: list[Attempt] = []
        try:
            response = self._attempt(call, attempts)
        except ProviderFailed as exc:
            if exc.outcome != "invalid_json":
                raise
            response = self._attempt(call, attempts)  # a garbled HTTP body: ask once more
        usage = getattr(response, "usage_info", None)
        attempts[-1].pages = getattr(usage, "pages_processed", None)  # billed even if empty
        markdown = "\n\n".join(page.markdown or "" for page in (response.pages or []))
        if is_placeholder_only(markdown):
            attempts[-1].outcome = "empty"
            attempts[-1].error = "OCR markdown holds only image placeholders"
            raise ProviderFailed(self.name, "empty", attempts[-1].error, attempts)
        data = None
        if response.document_annotation:
            try:
                data = parse_json_object(response.document_annotation)
            except _InvalidReply:
                data = None  # the markdown is still usable
        return ProviderReply(self.name, data=data, text=markdown, attempts=attempts)


# -- Gemini ------------------------------------------------------------------------------------
class GeminiVision(GuardedProvider):
    name, step = "gemini", "vision"

    def __init__(self, config: AiConfig, sleep: Callable[[float], None] | None = None):
        super().__init__(config, sleep)
        from google import genai
        from google.genai import types

        self._types = types
        options = types.HttpOptions(timeout=int(config.timeout_seconds * 1000))
        if config.gemini_base_url:
            options = types.HttpOptions(
                base_url=config.gemini_base_url, timeout=int(config.timeout_seconds * 1000)
            )
        self.client = genai.Client(api_key=config.gemini_api_key, http_options=options)

    def extract_json(
        self, image: bytes, mime_type: str, prompt: str,
        validate: Callable[[dict], Any] | None = None,
    ) -> ProviderReply:
        types = self._types

        def call():
            return self.client.models.generate_content(
                model=self.config.gemini_model,
                contents=[types.Part.from_bytes(data=image, mime_type=mime_type), prompt],
                config=types.GenerateContentConfig(
                    response_mime_type="application/json", temperature=0
                ),
            )

        def read(response):
            usage = response.usage_metadata
            return (response.text, getattr(usage, "prompt_token_count", None),
                    getattr(usage, "candidates_token_count", None))

        return self._call_for_json(call, read, validate)


# -- the bundle --------------------------------------------------------------------------------
@dataclass
class AiProviders:
    zhipu: ZhipuText | None = None
    mistral: MistralOcr | None = None
    gemini: GeminiVision | None = None

    @property
    def names(self) -> list[str]:
        return [p.name for p in (self.zhipu, self.mistral, self.gemini) if p is not None]

    @property
    def prices(self) -> dict[str, float]:
        for provider in (self.zhipu, self.mistral, self.gemini):
            if provider is not None:
                return provider.config.prices
        return DEFAULT_PRICES

    def price(self, attempts: list[Attempt]) -> list[Attempt]:
        """Stamp each attempt with its estimated cost."""
        return _priced(attempts, self.prices)


def build_ai_providers(
    config: AiConfig, only: str | None = None, sleep: Callable[[float], None] | None = None
) -> AiProviders:
    """The providers that have an API key (``only``: just that one, for the CLI)."""
    providers = AiProviders()
    if config.zhipu_api_key and only in (None, "zhipu"):
        providers.zhipu = ZhipuText(config, sleep)
    if config.mistral_api_key and only in (None, "mistral"):
        providers.mistral = MistralOcr(config, sleep)
    if config.gemini_api_key and only in (None, "gemini"):
        providers.gemini = GeminiVision(config, sleep)
    return providers


def data_url(image: bytes, content_type: str) -> str:
    return f"data:{content_type};base64,{base64.b64encode(image).decode()}"


def ai_config_from_settings(ai: AiSettings) -> AiConfig:
    """Plain provider config from the settings' ``ai`` section (CLI paths, no Dagster)."""
    values = {f.name: getattr(ai, f.name) for f in dataclasses.fields(AiSettings)}
    return AiConfig(**{**values, "prices": {**DEFAULT_PRICES, **ai.prices}})


class AiResource(dg.ConfigurableResource):
    """Dagster wiring for the providers; keys stay ``EnvVar`` until a run starts."""

    zhipu_api_key: str | None = None
    zhipu_base_url: str | None = None
    zhipu_model: str = "glm-4-flash"
    mistral_api_key: str | None = None
    mistral_base_url: str | None = None
    mistral_ocr_model: str = "mistral-ocr-latest"
    gemini_api_key: str | None = None
    gemini_base_url: str | None = None
    gemini_model: str = "gemini-2.5-flash"
    timeout_seconds: float = 60.0
    max_attempts: int = 4
    backoff_seconds: float = 1.0
    concurrency: int = 4
    requests_per_minute: int = 60
    extraction_provider: str = "auto"  # rules | zhipu | mistral | gemini | chain | auto
    image_transfer: str = "auto"
    retry_after_max_seconds: float = 60.0
    prices: dict[str, float] = {}  # merged over DEFAULT_PRICES
    # the cost ceiling per raw item: extraction passes, and the wait before each retry
    extraction_max_attempts: int = 3
    extraction_retry_delays_hours: list[float] = [0.0, 24.0, 72.0]

    def config(self) -> AiConfig:
        values = {name: getattr(self, name) for name in AiConfig.__dataclass_fields__
                  if hasattr(self, name)}
        values["prices"] = {**DEFAULT_PRICES, **(self.prices or {})}
        return AiConfig(**values)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.extraction_max_attempts, tuple(self.extraction_retry_delays_hours))


def ai_resource_from_settings(ai: AiSettings, extraction: ExtractionSettings) -> AiResource:
    """The Dagster resource: keys become ``EnvVar``s so no page shows them."""

    def key(env_name: str, value: str | None):
        return dg.EnvVar(env_name) if value else None

    plain = {name: getattr(ai, name) for name in AiResource.model_fields
             if hasattr(ai, name) and not name.endswith("_api_key") and name != "prices"}
    return AiResource(
        **plain,
        zhipu_api_key=key("ZHIPUAI_API_KEY", ai.zhipu_api_key),
        mistral_api_key=key("MISTRAL_API_KEY", ai.mistral_api_key),
        gemini_api_key=key("GEMINI_API_KEY", ai.gemini_api_key),
        prices=dict(ai.prices),
        extraction_provider=extraction.provider,
        extraction_max_attempts=extraction.max_attempts,
        extraction_retry_delays_hours=list(extraction.retry_delays_hours),
    )
