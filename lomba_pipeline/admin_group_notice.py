"""One text per day to the admin WhatsApp group (the nightly reports), never twice.

The ``broadcasts`` row keyed ``<purpose>:<day>:<group>`` is claimed before sending, so a re-run
or retried run finds the claim; a timeout may have delivered, so it is recorded ``unknown`` and
never resent automatically.
"""

from lomba_pipeline.catalog.review.broadcast import claim_broadcast
from lomba_pipeline.db.events import record_event
from lomba_pipeline.resources.whatsapp import WhatsAppError, WhatsAppGateway


def send_daily_text_once(pg, whatsapp: WhatsAppGateway, admin_group: str | None, purpose: str,
                         day: str, text: str) -> str:
    """Send ``text`` for ``day`` at most once; returns what happened, for the metadata."""
    if not (whatsapp.enabled and admin_group):
        return "off (LOMBA_WAHA_URL / LOMBA_WA_ADMIN_GROUP_ID not set)"
    key = f"{purpose}:{day}:{admin_group}"
    with pg.connection() as conn:
        broadcast_id, existing = claim_broadcast(conn, None, admin_group, purpose, key=key)
    if broadcast_id is None:
        return f"already {existing}"
    try:
        sent = whatsapp.send_text(admin_group, text)
        status, message_id, error = "sent", sent.message_id, None
    except WhatsAppError as exc:
        status = "unknown" if exc.delivered_unknown else "failed"
        message_id, error = None, str(exc)[:500]
    with pg.connection() as conn:
        with conn.cursor() as cur:
            cur.execute(
                "UPDATE broadcasts SET status = %s, message_id = %s, error = %s,"
                " sent_at = CASE WHEN %s = 'sent' THEN now() END WHERE id = %s",
                (status, message_id, error, status, broadcast_id),
            )
        record_event(conn, actor="pipeline", kind=f"{purpose}.whatsapp_{status}",
                     subject=f"{purpose}:{day}", data={"channel": admin_group, "error": error})
    return status if error is None else f"{status}: {error}"
