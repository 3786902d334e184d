"""Broadcasting approved records to the WhatsApp channel, exactly once per (record, channel).

The ``broadcasts`` row is claimed (unique idempotency key) and committed *before* the message is
sent, so a double click, a retried request or two processes racing find the claim and send
nothing. A definite failure (HTTP error, connection refused) marks the row ``failed`` and may be
retried; a timeout marks it ``unknown`` and is never retried automatically, because WhatsApp may
have received it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from psycopg2.extras import RealDictCursor
from pydantic import ValidationError

from lomba_pipeline.catalog.review.caption import render_caption
from lomba_pipeline.catalog.review.storage import variant_key
from lomba_pipeline.db.events import record_event
from lomba_pipeline.media.variant import VariantOptions, make_variant
from lomba_pipeline.partitions import TIMEZONE
from lomba_pipeline.resources.object_store import ObjectStore
from lomba_pipeline.resources.whatsapp import WhatsAppError, WhatsAppGateway, WhatsAppTargets

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BroadcastOutcome:
    status: str  # sent, failed, unknown, already, skipped
    message: str  # shown to the reviewer (Bahasa Indonesia)


VARIANT_CONFIG = "poster_variant.yaml"


def variant_options_from_config(config_dir: Path) -> VariantOptions:
    """``config/poster_variant.yaml`` (defaults when the file is absent)."""
    path = Path(config_dir) / VARIANT_CONFIG
    if not path.exists():
        return VariantOptions()
    try:
        data = yaml.safe_load(path.read_text()) or {}
        return VariantOptions(**data)
    except (yaml.YAMLError, TypeError, ValidationError) as exc:
        raise ValueError(f"{path}: invalid poster variant options ({exc})") from None


def today_in_jakarta() -> date:
    return datetime.now(ZoneInfo(TIMEZONE)).date()


def idempotency_key(purpose: str, competition_id: int, channel: str) -> str:
    return f"{purpose}:{competition_id}:{channel}"


def claim_broadcast(
    conn, competition_id: int | None, channel: str, purpose: str, key: str | None = None
) -> tuple[int | None, str | None]:
    """(broadcast id, None) when we own the send; (None, existing status) otherwise.

    ``key`` defaults to one message per (purpose, record, channel).
    """
    key = key or idempotency_key(purpose, competition_id, channel)
    with conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO broadcasts (competition_id, channel, purpose, idempotency_key)
            VALUES (%s, %s, %s, %s)
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING id
            """,
            (competition_id, channel, purpose, key),
        )
        row = cur.fetchone()
        if row:
            return row[0], None
        # a definite failure may be retried: take it over atomically
        cur.execute(
            """
            UPDATE broadcasts SET status = 'sending', attempts = attempts + 1, error = NULL,
                   claimed_at = now()
            WHERE idempotency_key = %s AND status = 'failed'
            RETURNING id
            """,
            (key,),
        )
        row = cur.fetchone()
        if row:
            return row[0], None
        cur.execute("SELECT status FROM broadcasts WHERE idempotency_key = %s", (key,))
        return None, cur.fetchone()[0]


def _poster_variant(conn, store: ObjectStore, image_id: int, options: VariantOptions) -> dict:
    """The re-publishable variant of a poster, made once and stored next to the original."""
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            "SELECT * FROM image_variants WHERE image_id = %s AND tag = %s", (image_id, options.tag)
        )
        row = cur.fetchone()
        if row and store.exists(row["object_key"]):
            return dict(row)
        cur.execute("SELECT object_key FROM images WHERE id = %s", (image_id,))
        original = cur.fetchone()["object_key"]
        data = make_variant(store.get(original), options)
        stored = store.put_at(variant_key(original, options.tag), data, "image/jpeg")
        cur.execute(
            """
            INSERT INTO image_variants (image_id, tag, object_key, public_url, size_bytes)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (image_id, tag) DO UPDATE
            SET object_key = EXCLUDED.object_key, public_url = EXCLUDED.public_url,
                size_bytes = EXCLUDED.size_bytes
            RETURNING *
            """,
            (image_id, options.tag, stored.key, stored.public_url, stored.size),
        )
        return dict(cur.fetchone())


def _finish(conn, broadcast_id: int, competition_id: int, status: str, *, message_id=None,
            error=None, image_key=None, actor: str, channel: str) -> None:
    with conn.cursor() as cur:
        cur.execute(
            """
            UPDATE broadcasts SET status = %s, message_id = %s, error = %s, image_key = %s,
                   sent_at = CASE WHEN %s = 'sent' THEN now() ELSE sent_at END
            WHERE id = %s
            """,
            (status, message_id, error, image_key, status, broadcast_id),
        )
        cur.execute(
            """
            UPDATE competitions SET broadcast_status = %s,
                   broadcast_at = CASE WHEN %s = 'sent' THEN now() ELSE broadcast_at END
            WHERE id = %s
            """,
            ("sent" if status == "sent" else "failed", status, competition_id),
        )
    record_event(
        conn, actor=actor, kind=f"broadcast.{status}", subject=f"competition:{competition_id}",
        data={"channel": channel, "broadcast_id": broadcast_id, "message_id": message_id,
              "error": error},
    )


def broadcast_competition(
    pg, store: ObjectStore, whatsapp: WhatsAppGateway, targets: WhatsAppTargets, competition_id: int, *,
    actor: str = "system", variant_options: VariantOptions | None = None,
    today: date | None = None,
) -> BroadcastOutcome:
    """Send an approved, not-yet-expired record to the channel, at most once.

    ``today`` (default: the date in Jakarta now) decides whether the deadline has passed.
    """
    channel = targets.whatsapp_channel_id
    if not whatsapp.enabled or not channel:
        return BroadcastOutcome("skipped", "WhatsApp belum dikonfigurasi; tidak ada yang dikirim")
    with pg.connection() as conn:
        with conn.cursor(cursor_factory=RealDictCursor) as cur:
            cur.execute("SELECT * FROM competitions WHERE id = %s", (competition_id,))
            record = cur.fetchone()
        if record is None:
            return BroadcastOutcome("skipped", f"data lomba #{competition_id} tidak ada")
        if record["review_status"] != "approved":
            return BroadcastOutcome("skipped", "belum disetujui; tidak dikirim")
        if record["end_date"] is not None and record["end_date"] < (today or today_in_jakarta()):
            return BroadcastOutcome("skipped", "batas pendaftaran sudah lewat; tidak dikirim")
        broadcast_id, existing = claim_broadcast(conn, competition_id, channel, "publish")
    if broadcast_id is None:
        label = {"sent": "sudah pernah dikirim", "sending": "sedang dikirim",
                 "unknown": "status pengiriman sebelumnya tidak pasti; periksa kanal dulu"}
        return BroadcastOutcome("already", f"WhatsApp: {label.get(existing, existing)}")
    caption = render_caption(dict(record), targets.config_dir)
    image_key = None
    try:
        if record["image_id"] is not None:
            with pg.connection() as conn:
                options = variant_options or variant_options_from_config(targets.config_dir)
                variant = _poster_variant(conn, store, record["image_id"], options)
            image_key = variant["object_key"]
            sent = whatsapp.send_image(channel, image_url=variant["public_url"], caption=caption,
                                       filename=f"lomba-{competition_id}.jpg")
        else:
            sent = whatsapp.send_text(channel, caption)
    except WhatsAppError as exc:
        status = "unknown" if exc.delivered_unknown else "failed"
        with pg.connection() as conn:
            _finish(conn, broadcast_id, competition_id, status, error=str(exc)[:500],
                    image_key=image_key, actor=actor, channel=channel)
        log.warning("broadcast of competition %s %s: %s", competition_id, status, exc)
        return BroadcastOutcome(status, f"WhatsApp gagal: {exc}")
    except Exception as exc:
        # nothing was sent (the poster variant or the caption failed): a retry is safe
        log.exception("broadcast of competition %s could not be prepared", competition_id)
        error = f"{type(exc).__name__}: {exc}"[:500]
        with pg.connection() as conn:
            _finish(conn, broadcast_id, competition_id, "failed", error=error, actor=actor,
                    channel=channel)
        return BroadcastOutcome("failed", f"WhatsApp tidak dikirim: {error}")
    with pg.connection() as conn:
        _finish(conn, broadcast_id, competition_id, "sent", message_id=sent.message_id,
                image_key=image_key, actor=actor, channel=channel)
    return BroadcastOutcome("sent", "Terkirim ke kanal WhatsApp")


INTERRUPTED = "pengirim berhenti sebelum mencatat hasil; periksa kanal WhatsApp lalu putuskan"


def settle_interrupted_sends(conn, older_than: timedelta, *, actor: str = "pipeline") -> list[dict]:
    """Claims still ``sending`` after ``older_than``: their sender died between claiming and
    recording the outcome, so the message may or may not be out. They become ``unknown`` (never
    resent automatically) and wait for a person on the record page; returns them."""
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            """
            UPDATE broadcasts SET status = 'unknown', error = %s
            WHERE status = 'sending' AND claimed_at < now() - %s
            RETURNING id, competition_id, channel, purpose
            """,
            (INTERRUPTED, older_than),
        )
        settled = [dict(r) for r in cur.fetchall()]
    for row in settled:
        record_event(conn, actor=actor, kind="broadcast.unknown",
                     subject=f"competition:{row['competition_id']}",
                     data={"channel": row["channel"], "broadcast_id": row["id"],
                           "purpose": row["purpose"], "error": INTERRUPTED})
    return settled


class BroadcastDecisionError(ValueError):
    """The decision does not apply (no uncertain broadcast, unknown decision)."""


def decide_uncertain_broadcast(conn, competition_id: int, decision: str, *, actor: str) -> str:
    """A person's answer for an ``unknown`` channel broadcast: ``sent`` (it is on the channel)
    or ``resend`` (it is not: the next send may claim it). Returns the new status."""
    if decision not in ("sent", "resend"):
        raise BroadcastDecisionError(f"keputusan tidak dikenal: {decision!r}")
    new_status = "sent" if decision == "sent" else "failed"
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            """
            UPDATE broadcasts SET status = %s, error = NULL,
                   sent_at = CASE WHEN %s = 'sent' THEN now() ELSE sent_at END
            WHERE competition_id = %s AND purpose = 'publish' AND status = 'unknown'
            RETURNING id, channel
            """,
            (new_status, new_status, competition_id),
        )
        rows = cur.fetchall()
        if not rows:
            raise BroadcastDecisionError(
                f"data lomba #{competition_id} tidak punya siaran yang statusnya tidak pasti")
        if decision == "sent":
            cur.execute("UPDATE competitions SET broadcast_status = 'sent',"
                        " broadcast_at = coalesce(broadcast_at, now()) WHERE id = %s",
                        (competition_id,))
    for row in rows:
        record_event(conn, actor=actor, kind=f"broadcast.decided_{decision}",
                     subject=f"competition:{competition_id}",
                     data={"channel": row["channel"], "broadcast_id": row["id"]})
    return new_status


def notify_review_group(pg, whatsapp: WhatsAppGateway, targets: WhatsAppTargets, *, limit: int = 20) -> int:
    """Tell the review group about new pending records (off unless switched on); returns count."""
    group = targets.whatsapp_review_group_id
    if not (targets.whatsapp_notify_review_group and whatsapp.enabled and group):
        return 0
    with pg.cursor() as cur:
        cur.execute(
            """
            SELECT c.id, c.title, c.end_date FROM competitions c
            WHERE c.review_status = 'pending' AND NOT EXISTS (
                SELECT 1 FROM broadcasts b WHERE b.idempotency_key =
                    'review_notify:' || c.id || ':' || %s)
            ORDER BY c.id LIMIT %s
            """,
            (group, limit),
        )
        pending = cur.fetchall()
    sent = 0
    for row in pending:
        with pg.connection() as conn:
            broadcast_id, _ = claim_broadcast(conn, row["id"], group, "review_notify")
        if broadcast_id is None:
            continue
        deadline = row["end_date"].isoformat() if row["end_date"] else "-"
        text = (f"Lomba baru menunggu review (#{row['id']}): {row['title'] or '(tanpa judul)'}"
                f" — batas {deadline}")
        try:
            result = whatsapp.send_text(group, text)
        except WhatsAppError as exc:
            with pg.connection() as conn, conn.cursor() as cur:
                cur.execute("UPDATE broadcasts SET status = %s, error = %s WHERE id = %s",
                            ("unknown" if exc.delivered_unknown else "failed", str(exc)[:500],
                             broadcast_id))
            continue
        with pg.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "UPDATE broadcasts SET status = 'sent', sent_at = now(), message_id = %s "
                "WHERE id = %s", (result.message_id, broadcast_id))
        sent += 1
    return sent
