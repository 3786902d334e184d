"""A fake WAHA (WhatsApp HTTP API) server: records every message, answers like WAHA does."""

from __future__ import annotations

import itertools

from lomba_pipeline_tests.fakes.http_fake import Call, HttpFake, route


class FakeWaha(HttpFake):
    def __init__(self, api_key: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.api_key = api_key
        self._ids = itertools.count(1)
        self.delivered: list[dict] = []  # messages WAHA accepted (injected failures excluded)

    def _refuse(self, call: Call):
        if self.api_key and call.headers.get("x-api-key") != self.api_key:
            return 401, {"message": "Unauthorized"}
        body = call.json()
        if not isinstance(body, dict) or not body.get("chatId") or not body.get("session"):
            return 422, {"message": "chatId and session are required"}
        return None

    @route("POST", r"/api/sendImage")
    def send_image(self, call: Call):
        refused = self._refuse(call)
        if refused:
            return refused
        body = call.json()
        if not (body.get("file") or {}).get("url"):
            return 422, {"message": "file.url is required"}
        self.delivered.append(body)
        return 201, {"id": {"_serialized": f"true_{body['chatId']}_MSG{next(self._ids)}"}}

    @route("POST", r"/api/sendText")
    def send_text(self, call: Call):
        refused = self._refuse(call)
        if refused:
            return refused
        self.delivered.append(call.json())
        return 201, {"id": {"_serialized": f"true_{call.json()['chatId']}_MSG{next(self._ids)}"}}
