"""One local fake speaking the three AI APIs the real SDKs call (paths and bodies as in
notes/domain-research.md §A3 and corpus/llm-shapes):

- Zhipu GLM   ``POST /api/paas/v4/chat/completions``  (zhipuai base_url = url + "/api/paas/v4")
- Mistral OCR ``POST /v1/ocr``                         (mistralai server_url = url)
- Gemini      ``POST /{v1,v1beta}/models/{model}:generateContent`` (google-genai base_url = url)

Replies are scripted per provider with a function of the request (``zhipu_reply`` gets the user
message text and returns the message content; ``ocr_reply`` gets the document URL and returns
``(markdown, annotation_json_or_None)``; ``gemini_reply`` gets the prompt and image bytes and
returns the text), or queued with ``queue_zhipu`` / ``queue_ocr`` / ``queue_gemini``.
Every handler waits ``latency_seconds`` (asynchronously, so concurrent calls overlap) and the
fake tracks how many calls were in flight at once.

``throttle_next(provider, retry_after=…)`` answers the next call(s) with HTTP 429, the
``Retry-After`` header and the provider's own error body (Zhipu's ``{"error": {"code": "1302"}}``,
Mistral's ``{"object": "error", "type": "rate_limited"}``, Google's ``RESOURCE_EXHAUSTED``
status): the SDKs raise ``APIReachLimitError`` (zhipuai ``_make_status_error``), ``SDKError``
(mistralai ``ocr.process`` on 4XX) and ``ClientError`` (google-genai ``APIError.raise_for_response``),
each keeping the httpx response with its headers. Every call is counted per provider in
``counts`` (HTTP requests that reached the provider, throttled ones included), which is what a
provider bills or rate-limits.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Callable
from typing import Any

from starlette.responses import JSONResponse

from lomba_pipeline_tests.fakes.http_fake import Call, HttpFake, route

DEFAULT_RECORD = {
    "title": "LOMBA ESAI NASIONAL 2025",
    "organizer": "BEM FH UI",
    "start_date": "2025-01-01",
    "end_date": "2025-01-20",
    "categories": ["Sastra & Bahasa"],
    "levels": ["SMA", "Mahasiswa"],
}


# each provider's documented 429 body
RATE_LIMIT_BODIES: dict[str, Any] = {
    "zhipu": {"error": {"code": "1302", "message": "您当前使用该API的并发数过高，请降低并发，或联系客服增加限额。"}},
    "mistral": {"object": "error", "message": "Requests rate limit exceeded", "type": "rate_limited",
                "param": None, "code": "1300"},
    "gemini": {"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).",
                         "status": "RESOURCE_EXHAUSTED"}},
}


class FakeAiProviders(HttpFake):
    def __init__(self, latency_seconds: float = 0.0):
        super().__init__(latency_seconds=0.0)
        self.call_latency = latency_seconds
        self.zhipu_reply: Callable[[str], str] = lambda text: json.dumps(DEFAULT_RECORD)
        self.ocr_reply: Callable[[str], tuple[str, str | None]] = lambda url: (
            "# LOMBA ESAI NASIONAL 2025\n\nPenyelenggara: BEM FH UI\n\nPendaftaran: 1 - 20 Januari "
            "2025\n\nBiaya: Rp 50.000\n\nCP: 0812-3456-7890\n\nbit.ly/DaftarEsai2025",
            None,
        )
        self.gemini_reply: Callable[[str, bytes], str] = lambda prompt, image: json.dumps(
            DEFAULT_RECORD
        )
        self._queues: dict[str, list[Any]] = {"zhipu": [], "ocr": [], "gemini": []}
        self._flight_lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self._throttles: dict[str, list[str]] = {"zhipu": [], "mistral": [], "gemini": []}
        self.counts: dict[str, int] = {"zhipu": 0, "mistral": 0, "gemini": 0}
        self.ocr_pages = 0  # pages the OCR endpoint reported as processed

    def throttle_next(self, provider: str, retry_after: str = "2", times: int = 1) -> None:
        """The next ``times`` calls to ``provider`` get 429 with ``Retry-After: retry_after``."""
        with self._flight_lock:
            self._throttles[provider].extend([retry_after] * times)

    def _count_and_throttle(self, provider: str) -> JSONResponse | None:
        with self._flight_lock:
            self.counts[provider] += 1
            retry_after = self._throttles[provider].pop(0) if self._throttles[provider] else None
        if retry_after is None:
            return None
        return JSONResponse(RATE_LIMIT_BODIES[provider], status_code=429,
                            headers={"Retry-After": retry_after})

    def queue_zhipu(self, *contents: str) -> None:
        self._queues["zhipu"].extend(contents)

    def queue_ocr(self, *replies: tuple[str, str | None]) -> None:
        self._queues["ocr"].extend(replies)

    def queue_gemini(self, *texts: str) -> None:
        self._queues["gemini"].extend(texts)

    def _next(self, name: str, default):
        with self._flight_lock:
            if self._queues[name]:
                return self._queues[name].pop(0)
        return default()

    async def _wait(self) -> None:
        with self._flight_lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.call_latency:
                await asyncio.sleep(self.call_latency)
        finally:
            with self._flight_lock:
                self.in_flight -= 1

    # -- Zhipu ---------------------------------------------------------------------------------
    @route("POST", r"/api/paas/v4/chat/completions")
    async def zhipu(self, call: Call):
        await self._wait()
        if (throttled := self._count_and_throttle("zhipu")) is not None:
            return throttled
        messages = call.json()["messages"]
        user_text = next((m["content"] for m in messages if m["role"] == "user"), "")
        content = self._next("zhipu", lambda: self.zhipu_reply(user_text))
        return 200, {
            "id": "20250101120000abcdef", "request_id": "req-1", "created": 1735707600,
            "model": call.json().get("model", "glm-4-flash"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
        }

    # -- Mistral OCR ---------------------------------------------------------------------------
    @route("POST", r"/v1/ocr")
    async def ocr(self, call: Call):
        await self._wait()
        if (throttled := self._count_and_throttle("mistral")) is not None:
            return throttled
        document = call.json()["document"]
        markdown, annotation = self._next("ocr", lambda: self.ocr_reply(document["image_url"]))
        with self._flight_lock:
            self.ocr_pages += 1
        return 200, {
            "pages": [{"index": 0, "markdown": markdown, "images": [],
                       "dimensions": {"dpi": 200, "height": 1350, "width": 1080}}],
            "model": "mistral-ocr-2505-completion",
            "usage_info": {"pages_processed": 1, "doc_size_bytes": 123456},
            "document_annotation": annotation,
        }

    # -- Gemini --------------------------------------------------------------------------------
    @route("POST", r"/v1(?:beta)?/models/([^/:]+):generateContent")
    async def gemini(self, call: Call, model: str):
        await self._wait()
        if (throttled := self._count_and_throttle("gemini")) is not None:
            return throttled
        parts = call.json()["contents"][0]["parts"]
        prompt = " ".join(p.get("text", "") for p in parts)
        inline = next((p.get("inlineData") or p.get("inline_data") for p in parts
                       if p.get("inlineData") or p.get("inline_data")), None)
        image = base64.b64decode(inline["data"]) if inline else b""
        text = self._next("gemini", lambda: self.gemini_reply(prompt, image))
        return 200, {
            "candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 300, "candidatesTokenCount": 25,
                              "totalTokenCount": 325},
            "modelVersion": model, "responseId": "abc123",
        }

    # -- wiring helpers ------------------------------------------------------------------------
    @property
    def zhipu_base_url(self) -> str:
        return self.url + "/api/paas/v4"

    def env(self) -> dict[str, str]:
        """Environment that points the project's settings at this fake."""
        return {
            "ZHIPUAI_API_KEY": "test-zhipu-key", "LOMBA_ZHIPU_BASE_URL": self.zhipu_base_url,
            "MISTRAL_API_KEY": "test-mistral-key", "LOMBA_MISTRAL_BASE_URL": self.url,
            "GEMINI_API_KEY": "test-gemini-key", "LOMBA_GEMINI_BASE_URL": self.url,
        }
