"""A synthetic catalog for the benches: distinct records at a realistic duplicate rate and review
mix, bulk-inserted (execute_values), keyed for the duplicate search and vacuumed, as a catalog
that grew over months would be.

About 15% of records are aggregator reposts of an earlier one (same link typed differently, a
hype title, a deadline a day off, a re-encoded poster): the same competition "routinely appears
on infolomba.id and several IG aggregators" (notes/domain-research.md). Review mix: 70% approved,
15% pending, 10% rejected, the reposts that a person caught (half of them) marked duplicate.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from psycopg2.extras import execute_values

FIRST_DEADLINE = date(2026, 12, 1)  # fixed: the figures must not depend on the day they run
DUPLICATE_RATE = 0.15
UNDATED_RATE = 0.10
LEVELS = ("SD", "SMP", "SMA", "Mahasiswa", "Umum")
CATEGORIES = ("Sains", "Sastra & Bahasa", "Seni & Desain", "Teknologi", "Bisnis", "Olahraga")

KINDS = ("lomba", "olimpiade", "kompetisi", "festival", "national", "kejuaraan", "liga", "")
SUBJECTS = ("sains matematika esai poster fotografi debat hackathon business plan karya tulis "
            "ilmiah cerpen puisi desain ui ux videografi pidato kaligrafi robotik investasi "
            "pasar modal akuntansi hukum moot court film pendek fisika kimia biologi ekonomi "
            "geografi sejarah bahasa inggris arab jepang coding data science olahraga futsal "
            "basket catur esports tari vokal band musik teater mural komik animasi startup "
            "inovasi teknologi lingkungan kesehatan gizi farmasi arsitektur sipil").split()
THEMES = ("hari pahlawan", "sumpah pemuda", "hari guru", "dies natalis", "bulan bahasa",
          "hari kartini", "hari bumi", "kemerdekaan", "", "", "", "")


def _acronym(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randrange(3, 6)))


def base_record(i: int, rng: random.Random) -> dict:
    org = _acronym(rng)
    subject = " ".join(rng.sample(SUBJECTS, rng.randrange(1, 4)))
    title = " ".join(w for w in (rng.choice(KINDS), subject, rng.choice(THEMES), org.upper(),
                                 str(2026 + i % 2)) if w)
    undated = rng.random() < UNDATED_RATE
    return {
        "title": title.title(),
        "organizer": org.upper(),
        "description": (f"{title} diselenggarakan oleh {org.upper()} untuk pelajar dan mahasiswa. "
                        f"Tema: {rng.choice(SUBJECTS)} {rng.choice(SUBJECTS)} {_acronym(rng)}. "
                        f"Hadiah total {rng.randrange(1, 50)} juta rupiah."),
        "end_date": None if undated else FIRST_DEADLINE + timedelta(days=rng.randrange(365)),
        "registration_url": (f"https://bit.ly/{org}-{i}" if rng.random() < 0.7 else None),
        "phash": rng.getrandbits(64),
        "levels": rng.sample(LEVELS, rng.randrange(1, 3)),
        "categories": rng.sample(CATEGORIES, 1),
        "of": None,
    }


def repost(base: dict, rng: random.Random) -> dict:
    """How aggregators repost a record: some of its keys kept, typed differently."""
    flipped = base["phash"]
    for bit in rng.sample(range(64), rng.randrange(0, 5)):
        flipped ^= 1 << bit
    shifted = base["end_date"] and base["end_date"] + timedelta(days=rng.randrange(-2, 3))
    variant = rng.randrange(3)
    return {
        **base,
        "title": (f"🔥 {base['title'].upper()} IS BACK!" if variant != 1
                  else f"Info lomba terbaru {rng.choice(SUBJECTS)}"),
        "description": base["description"] if variant == 2 else f"Repost {rng.random()}",
        "end_date": shifted if rng.random() < 0.8 else None,
        "registration_url": (base["registration_url"] and base["registration_url"] + "/"
                             if variant == 0 else None),
        "phash": flipped if variant != 0 else rng.getrandbits(64),
    }


def records(n: int, rng: random.Random, start: int = 1) -> list[dict]:
    """``n`` records, about DUPLICATE_RATE of them reposts of an earlier one (``of``: its index)."""
    out: list[dict] = []
    for i in range(start, start + n):
        if out and rng.random() < DUPLICATE_RATE:
            k = rng.randrange(len(out))
            out.append({**repost(out[k], rng), "of": k})
        else:
            out.append(base_record(i, rng))
    return out


def review_status(record: dict, rng: random.Random) -> str:
    if record["of"] is not None and rng.random() < 0.5:
        return "duplicate"
    roll = rng.random()
    return "approved" if roll < 0.70 else "pending" if roll < 0.85 else "rejected"


def fill(pg, n: int, rng: random.Random) -> list[dict]:
    """Insert ``n`` records (ids 1..n in images, raw_items and competitions); returns them."""
    recs = records(n, rng)
    statuses = [review_status(r, rng) for r in recs]
    with pg.connection() as conn, conn.cursor() as cur:
        execute_values(cur, "INSERT INTO images (sha256, object_key, public_url, content_type, "
                            "size_bytes, phash) VALUES %s",
                       [(f"{i:064x}", f"posters/{i:064x}.jpg", f"http://x/{i}.jpg", "image/jpeg",
                         1000, f"{r['phash']:016x}") for i, r in enumerate(recs, 1)],
                       page_size=2000)
        execute_values(cur, "INSERT INTO raw_items (source_kind, source_name, canonical_url, "
                            "image_id, needs_extraction) VALUES %s",
                       [("web", "bench", f"https://bench.test/{i}", i, False)
                        for i in range(1, n + 1)],
                       page_size=2000)
        execute_values(cur, "INSERT INTO competitions (raw_item_id, canonical_url, title, "
                            "organizer, description, end_date, image_id, registration_url, "
                            "levels, categories, extraction_status, review_status, duplicate_of) "
                            "VALUES %s",
                       [(i, f"https://bench.test/{i}", r["title"], r["organizer"],
                         r["description"], r["end_date"], i, r["registration_url"], r["levels"],
                         r["categories"], "done", s,
                         r["of"] + 1 if s == "duplicate" else None)
                        for i, (r, s) in enumerate(zip(recs, statuses, strict=True), 1)],
                       page_size=2000)
    return recs


def key_and_vacuum(pg, url: str) -> int:
    """The one-time keying of the bulk-loaded records, then what autovacuum does after a bulk
    load. Returns how many records were keyed."""
    import psycopg2

    from lomba_pipeline.catalog.review import duplicates

    with pg.connection() as conn:
        keyed = duplicates.update_stale_keys(conn)
    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        conn.cursor().execute("VACUUM ANALYZE")
    finally:
        conn.close()
    return keyed
