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


@dataclass
class Attempt:
    provider: str
    step: str
    outcome: str  # ok, error, invalid_json, timeout, rate_limited, empty
    latency_ms: int
    error: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


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
class AiConfig:
    zhipu_api_key: str | None = field(default=None, repr=False)
    zhipu_base_url: str | None = None
    zhipu_model: str = "glm-4-flash"
    mistral_api_key: str | None = field(default=None, repr=False)
    mistral_base_url: str | None = None
    mistral_ocr_model: str = "mistral-ocr-latest"
    gemini_api_key: str | None = field(default=None, repr=False)
    gemini_base_url: str | None = None
    gemini_model: str = "gemini-2.5-flash"
    timeout_seconds: float = 60.0
    max_attempts: int = 4  # first try + 3 retries on 429 / 5xx / timeout
    backoff_seconds: float = 1.0  # first wait; doubles each retry
    backoff_max_seconds: float = 30.0
    concurrency: int = 4  # in-flight calls per provider
    requests_per_minute: int = 60  # per provider


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

    def __init__(self, config: AiConfig):
        self.config = config
        self.limits = CallLimits(config.concurrency, config.requests_per_minute)

    def _attempt(self, call: Callable[[], Any], attempts: list[Attempt]) -> Any:
        """One call with transport retries; every HTTP attempt is recorded."""
        cfg = self.config
        retrying = Retrying(
            stop=stop_after_attempt(max(1, cfg.max_attempts)),
            # exponential with jitter: parallel workers hit by one 429 do not retry in lockstep
            wait=wait_exponential_jitter(
                initial=cfg.backoff_seconds, max=cfg.backoff_max_seconds, jitter=cfg.backoff_seconds
            ),
            retry=retry_if_exception(lambda exc: classify_error(exc)[1]),
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


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


# -- Zhipu GLM ---------------------------------------------------------------------------------
class ZhipuText(GuardedProvider):
    name, step = "zhipu", "text"

    def __init__(self, config: AiConfig):
        super().__init__(config)
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

    def __init__(self, config: AiConfig):
        super().__init__(config)
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

    def __init__(self, config: AiConfig):
        super().__init__(config)
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


def build_ai_providers(config: AiConfig, only: str | None = None) -> AiProviders:
    """The providers that have an API key (``only``: just that one, for the CLI)."""
    providers = AiProviders()
    if config.zhipu_api_key and only in (None, "zhipu"):
        providers.zhipu = ZhipuText(config)
    if config.mistral_api_key and only in (None, "mistral"):
        providers.mistral = MistralOcr(config)
    if config.gemini_api_key and only in (None, "gemini"):
        providers.gemini = GeminiVision(config)
    return providers


def data_url(image: bytes, content_type: str) -> str:
    return f"data:{content_type};base64,{base64.b64encode(image).decode()}"


def ai_config_from_settings(settings) -> AiConfig:
    return AiConfig(
        zhipu_api_key=settings.zhipu_api_key,
        zhipu_base_url=settings.zhipu_base_url,
        zhipu_model=settings.zhipu_model,
        mistral_api_key=settings.mistral_api_key,
        mistral_base_url=settings.mistral_base_url,
        mistral_ocr_model=settings.mistral_ocr_model,
        gemini_api_key=settings.gemini_api_key,
        gemini_base_url=settings.gemini_base_url,
        gemini_model=settings.gemini_model,
        timeout_seconds=settings.ai_timeout_seconds,
        max_attempts=settings.ai_max_attempts,
        backoff_seconds=settings.ai_backoff_seconds,
        concurrency=settings.ai_concurrency,
        requests_per_minute=settings.ai_requests_per_minute,
    )


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

    def config(self) -> AiConfig:
        return AiConfig(**{name: getattr(self, name) for name in AiConfig.__dataclass_fields__
                           if hasattr(self, name)})


def ai_resource_from_settings(settings) -> AiResource:
    def key(env_name: str, value: str | None):
        return dg.EnvVar(env_name) if value else None

    return AiResource(
        zhipu_api_key=key("ZHIPUAI_API_KEY", settings.zhipu_api_key),
        zhipu_base_url=settings.zhipu_base_url,
        zhipu_model=settings.zhipu_model,
        mistral_api_key=key("MISTRAL_API_KEY", settings.mistral_api_key),
        mistral_base_url=settings.mistral_base_url,
        mistral_ocr_model=settings.mistral_ocr_model,
        gemini_api_key=key("GEMINI_API_KEY", settings.gemini_api_key),
        gemini_base_url=settings.gemini_base_url,
        gemini_model=settings.gemini_model,
        timeout_seconds=settings.ai_timeout_seconds,
        max_attempts=settings.ai_max_attempts,
        backoff_seconds=settings.ai_backoff_seconds,
        concurrency=settings.ai_concurrency,
        requests_per_minute=settings.ai_requests_per_minute,
        extraction_provider=settings.extraction_provider,
        image_transfer=settings.ai_image_transfer,
    )
