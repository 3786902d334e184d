"""WhatsApp through a WAHA-compatible HTTP API (https://waha.devlike.pro), off unless configured.

Only two calls are used: ``POST /api/sendImage`` (poster by public URL + caption) and
``POST /api/sendText``. Chat ids say where a message goes: ``…@newsletter`` is a channel,
``…@g.us`` a group, ``…@c.us`` a person. The API key travels in ``X-Api-Key`` and never appears in
errors or logs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import httpx

CHAT_ID = re.compile(r"^[0-9A-Za-z_.\-]+@(newsletter|g\.us|c\.us)$")


class WhatsAppDisabled(RuntimeError):
    """No WAHA URL is configured."""


class WhatsAppError(RuntimeError):
    """The gateway refused or failed a message.

    ``delivered_unknown`` is True when the request may have reached WhatsApp anyway (timeout or a
    connection dropped after sending): retrying could send the message twice.
    """

    def __init__(self, message: str, *, status: int | None = None, delivered_unknown: bool = False):
        super().__init__(message)
        self.status = status
        self.delivered_unknown = delivered_unknown


@dataclass(frozen=True)
class SentMessage:
    chat_id: str
    message_id: str | None


def validate_chat_id(chat_id: str) -> str:
    if not chat_id or not CHAT_ID.match(chat_id):
        raise ValueError(
            f"invalid WhatsApp chat id {chat_id!r}: expected …@newsletter (channel), …@g.us (group) "
            "or …@c.us (person)"
        )
    return chat_id


class WhatsAppGateway(dg.ConfigurableResource):
    """Resource key ``"whatsapp"``. ``base_url`` empty means disabled."""

    base_url: str = ""
    api_key: str = ""
    session: str = "default"
    timeout_seconds: float = 20.0

    @property
    def enabled(self) -> bool:
        return bool(self.base_url)

    def send_image(
        self, chat_id: str, *, image_url: str, caption: str, filename: str = "poster.jpg",
        mimetype: str = "image/jpeg",
    ) -> SentMessage:
        body = {
            "session": self.session,
            "chatId": validate_chat_id(chat_id),
            "file": {"mimetype": mimetype, "filename": filename, "url": image_url},
            "caption": caption,
        }
        return self._post("/api/sendImage", body, chat_id)

    def send_text(self, chat_id: str, text: str) -> SentMessage:
        body = {"session": self.session, "chatId": validate_chat_id(chat_id), "text": text}
        return self._post("/api/sendText", body, chat_id)

    def _post(self, path: str, body: dict, chat_id: str) -> SentMessage:
        if not self.enabled:
            raise WhatsAppDisabled("WhatsApp is not configured (LOMBA_WAHA_URL is empty)")
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["X-Api-Key"] = self.api_key
        url = self.base_url.rstrip("/") + path
        try:
            response = httpx.post(url, json=body, headers=headers, timeout=self.timeout_seconds)
        except httpx.ConnectError as exc:
            # nothing was sent: safe to retry later
            raise WhatsAppError(f"WAHA {path}: cannot connect ({type(exc).__name__})") from None
        except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise WhatsAppError(
                f"WAHA {path}: no answer ({type(exc).__name__}); the message may have been sent",
                delivered_unknown=True,
            ) from None
        if response.status_code >= 400:
            raise WhatsAppError(
                f"WAHA {path} answered HTTP {response.status_code}: {response.text[:200]}",
                status=response.status_code,
            )
        return SentMessage(chat_id, _message_id(response))


def _message_id(response: httpx.Response) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    raw = data.get("id")
    if isinstance(raw, dict):  # WAHA answers {"id": {"_serialized": "...", ...}} for some engines
        raw = raw.get("_serialized") or raw.get("id")
    return str(raw)[:200] if raw else None


class WhatsAppTargets(dg.ConfigurableResource):
    """Where the catalog's messages go (resource key ``"whatsapp_targets"``); chat ids, no secrets.

    Field names match the settings they come from, so broadcast code reads either.
    """

    whatsapp_channel_id: str | None = None  # approved records (…@newsletter)
    whatsapp_review_group_id: str | None = None  # "new records to review" notices
    whatsapp_admin_group_id: str | None = None  # nightly reports
    whatsapp_notify_review_group: bool = False
    config_folder: str = ""  # caption template and poster variant options

    @property
    def config_dir(self) -> Path:
        return Path(self.config_folder)


def whatsapp_targets_from_settings(settings) -> WhatsAppTargets:
    return WhatsAppTargets(
        whatsapp_channel_id=settings.whatsapp.channel_id,
        whatsapp_review_group_id=settings.whatsapp.review_group_id,
        whatsapp_admin_group_id=settings.whatsapp.admin_group_id,
        whatsapp_notify_review_group=settings.whatsapp.notify_review_group,
        config_folder=str(settings.config_dir),
    )


def whatsapp_from_settings(settings, *, for_dagster: bool = True) -> WhatsAppGateway:
    """Disabled when ``LOMBA_WAHA_URL`` is unset.

    For Dagster the API key stays an ``EnvVar`` until a run starts; the admin process (no Dagster
    run) gets the plain value.
    """
    if not settings.whatsapp.waha_url:
        return WhatsAppGateway()
    api_key = settings.whatsapp.waha_api_key or ""
    if for_dagster and api_key:
        api_key = dg.EnvVar("LOMBA_WAHA_API_KEY")
    return WhatsAppGateway(base_url=settings.whatsapp.waha_url, api_key=api_key, session=settings.whatsapp.waha_session)
