"""Lane C's second reader: the nightly summary goes to the admin WhatsApp group, once per day."""

from lomba_pipeline.catalog.review.broadcast import claim_broadcast
from lomba_pipeline.db.events import record_event
from lomba_pipeline.resources.whatsapp import WhatsAppError, WhatsAppGateway


def send_report_to_admin_group(pg, whatsapp: WhatsAppGateway, admin_group: str | None,
                               day: str, text: str) -> str:
    """Send the day's summary at most once (a re-run or retry finds the claim); returns what
    happened, for the materialization metadata."""
    if not (whatsapp.enabled and admin_group):
        return "off (LOMBA_WAHA_URL / LOMBA_WA_ADMIN_GROUP_ID not set)"
    key = f"ig_report:{day}:{admin_group}"
    with pg.connection() as conn:
        broadcast_id, existing = claim_broadcast(conn, None, admin_group, "ig_report", key=key)
    if broadcast_id is None:
        return f"already {existing}"
    try:
        sent = whatsapp.send_text(admin_group, text)
        status, message_id, error = "sent", sent.message_id, None
    except WhatsAppError as exc:
        # a timeout may have been delivered: 'unknown' is never resent automatically
        status = "unknown" if exc.delivered_unknown else "failed"
        message_id, error = None, str(exc)[:500]
    with pg.connection() as conn:
        with conn.cursor() as cur:
            cur.execute(
                "UPDATE broadcasts SET status = %s, message_id = %s, error = %s,"
                " sent_at = CASE WHEN %s = 'sent' THEN now() END WHERE id = %s",
                (status, message_id, error, status, broadcast_id),
            )
        record_event(conn, actor="pipeline", kind=f"ig_report.whatsapp_{status}",
                     subject=f"ig_report:{day}", data={"channel": admin_group, "error": error})
    return status if error is None else f"{status}: {error}"
