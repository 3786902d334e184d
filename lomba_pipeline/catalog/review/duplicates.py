"""Duplicate candidates: records that may describe the same competition.

The same lomba is routinely posted by a catalog website and several Instagram aggregators. A pair
of records is a candidate when any of these match (catalog practice, see compScraper / infortic):
- the same canonical URL or registration URL (normalised: scheme, ``www.``, trailing slash);
- the same description (normalised; long enough to mean something);
- a fuzzy title match (rapidfuzz, stop-words and hype removed) with deadlines within ±4 days;
- a near-identical poster (perceptual-hash distance).

Pairs are stored once (low id first) in ``duplicate_candidates``; a group is a connected set of
pairs, so web ↔ IG-a (same registration link) and IG-a ↔ IG-b (same poster) form one group of
three. People decide; nothing here changes a record's review status.

Search (sql/015_duplicate_search.sql): comparing a record with every other one costs O(catalog)
per write, so each record's keys live in ``duplicate_keys`` (computed here, by the same
normalisers the rules use; triggers mark a row stale when any writer changes a compared field).
A refresh narrows with indexes that never drop a pair the rules would keep, then applies the
rules to the few records found:
- links: array overlap (GIN); description: equal hash; same poster image: ``image_id``;
- poster phash within ``POSTER_MAX_DISTANCE``: four 16-bit chunks (B-tree each) — by pigeonhole
  a pair that close differs in at most one bit of some chunk, so each chunk and its one-bit
  flips are probed, and the exact distance is checked in SQL;
- titles with both deadlines: every record in the ±4-day window (B-tree), scored by rapidfuzz;
- titles without both deadlines (score ≥ 95): pg_trgm similarity ≥ a floor derived from the
  title itself (``trigram_floor``), below which no title can reach that score.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import combinations
from urllib.parse import urlsplit

from psycopg2.extras import RealDictCursor, execute_values
from rapidfuzz import fuzz, process

TITLE_MIN_SCORE = 85.0  # rapidfuzz token_sort_ratio on stop-word-free titles
TITLE_MIN_SCORE_NO_DEADLINE = 95.0  # without both deadlines, only near-identical titles count
DEADLINE_WINDOW_DAYS = 4
POSTER_MAX_DISTANCE = 6  # of 64 phash bits; re-encodes and small crops stay well under this
DESCRIPTION_MIN_CHARS = 40  # "OPEN REGISTRATION!" alone says nothing

# Words every lomba title carries (compScraper's list plus Indonesian filler and hype).
STOPWORDS = frozenset(
    """
    lomba kompetisi competition competitions contest fest festival nasional national internasional
    international tingkat mahasiswa event fair years tahun se indonesia open registration regist
    pendaftaran dibuka is back now hadir kembali resmi telah the of and dan untuk for by oleh di
    ke yang info extended gratis free batch gelombang
    """.split()
)
_NON_WORD = re.compile(r"[^0-9a-z]+")


@dataclass(frozen=True)
class Candidate:
    other_id: int
    reasons: tuple[str, ...]
    title_score: float | None = None
    phash_distance: int | None = None


def normalise_text(text: str | None) -> str:
    """NFKC (folds 𝐎𝐋𝐈𝐌𝐏𝐈𝐀𝐃𝐄 to OLIMPIADE), lower case, words only."""
    if not text:
        return ""
    folded = unicodedata.normalize("NFKC", text).lower()
    return " ".join(_NON_WORD.sub(" ", folded).split())


def title_tokens(title: str | None) -> list[str]:
    return [t for t in normalise_text(title).split() if t not in STOPWORDS]


def title_score(a: str | None, b: str | None) -> float:
    ta, tb = title_tokens(a), title_tokens(b)
    if not ta or not tb:
        return 0.0
    return float(fuzz.token_sort_ratio(" ".join(ta), " ".join(tb)))


def normalise_url(url: str | None) -> str | None:
    """Comparable form of a link; None for links too generic to identify anything."""
    if not url:
        return None
    raw = url.strip()
    if "://" not in raw:
        raw = "https://" + raw
    parts = urlsplit(raw)
    host = (parts.hostname or "").lower().removeprefix("www.").removeprefix("m.")
    path = parts.path.rstrip("/")
    if not host or not path:
        return None  # "https://forms.gle" is not a registration link
    query = f"?{parts.query}" if parts.query else ""
    return f"{host}{path}{query}"


def deadlines_close(a: date | None, b: date | None) -> bool | None:
    if a is None or b is None:
        return None
    return abs((a - b).days) <= DEADLINE_WINDOW_DAYS


_COLUMNS = """
    c.id, c.canonical_url, c.registration_url, c.title, c.description, c.end_date, c.image_id,
    i.phash
"""
_FROM = "FROM competitions c LEFT JOIN images i ON i.id = c.image_id"


@dataclass(frozen=True)
class _Features:
    """What the rules compare, computed once per record (no cache: the keys table is the cache)."""

    id: int
    links: frozenset[str]
    description: str
    title: str  # stop-word-free, space-joined
    end_date: date | None
    image_id: int | None
    phash: int | None

    @classmethod
    def of(cls, row: dict) -> _Features:
        links = (normalise_url(row["canonical_url"]), normalise_url(row["registration_url"]))
        phash = row.get("phash")
        return cls(
            id=row["id"],
            links=frozenset(u for u in links if u),
            description=normalise_text(row["description"]),
            title=" ".join(title_tokens(row["title"])),
            end_date=row["end_date"],
            image_id=row["image_id"],
            phash=int(phash, 16) if phash else None,
        )


def compare(a: dict | _Features, b: dict | _Features) -> Candidate | None:
    """Why ``b`` may duplicate ``a`` (rows with the ``_COLUMNS`` fields), or None."""
    a = a if isinstance(a, _Features) else _Features.of(a)
    b = b if isinstance(b, _Features) else _Features.of(b)
    reasons: list[str] = []
    if a.links & b.links:
        reasons.append("same_url")
    if len(a.description) >= DESCRIPTION_MIN_CHARS and a.description == b.description:
        reasons.append("same_description")
    close = deadlines_close(a.end_date, b.end_date)
    score = 0.0
    if close is not False and a.title and b.title:
        score = float(fuzz.token_sort_ratio(a.title, b.title))
        if score >= (TITLE_MIN_SCORE if close else TITLE_MIN_SCORE_NO_DEADLINE):
            reasons.append("similar_title")
    distance = None
    if a.image_id is not None and a.image_id == b.image_id:
        distance = 0
    elif a.phash is not None and b.phash is not None:
        distance = (a.phash ^ b.phash).bit_count()  # Hamming distance of the 64-bit phashes
    if distance is not None and distance <= POSTER_MAX_DISTANCE:
        reasons.append("similar_poster")
    if not reasons:
        return None
    return Candidate(b.id, tuple(reasons), score or None, distance)


# --- Search keys -------------------------------------------------------------------------------

PHASH_BITS = 64
PHASH_CHUNKS = 4
_CHUNK_BITS = PHASH_BITS // PHASH_CHUNKS
# Pigeonhole: POSTER_MAX_DISTANCE differing bits spread over PHASH_CHUNKS chunks leave at least
# one chunk with at most this many of them.
_CHUNK_FLIPS = POSTER_MAX_DISTANCE // PHASH_CHUNKS


def phash_chunks(phash: int) -> list[int]:
    """The four indexed 16-bit chunks of a 64-bit phash, low bits first."""
    return [(phash >> (_CHUNK_BITS * p)) & ((1 << _CHUNK_BITS) - 1) for p in range(PHASH_CHUNKS)]


def phash_probes(phash: int) -> list[list[int]]:
    """Per chunk position, the values any phash within ``POSTER_MAX_DISTANCE`` may hold there;
    such a phash holds one of them in at least one position."""
    probes = []
    for chunk in phash_chunks(phash):
        values = []
        for flips in range(_CHUNK_FLIPS + 1):
            for bits in combinations(range(_CHUNK_BITS), flips):
                values.append(chunk ^ sum(1 << bit for bit in bits))
        probes.append(values)
    return probes


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value  # Postgres bigint is signed


def pg_trigrams(key: str) -> set[str]:
    """pg_trgm's trigram set of a normalised key (words padded with two spaces before, one after)."""
    grams: set[str] = set()
    for word in key.split():
        padded = f"  {word} "
        grams.update(padded[i:i + 3] for i in range(len(padded) - 2))
    return grams


def trigram_floor(key: str, min_score: float) -> float:
    """The lowest pg_trgm similarity a title scoring ≥ ``min_score`` against ``key`` can have.

    token_sort_ratio is 100·(1 − d/(la + lb)) with d the insert/delete distance of the sorted
    keys, and lb ≤ la + d, so d ≤ 2·la·(1 − s)/s. Each inserted or deleted character removes at
    most three trigrams from the set and adds at most three, so similarity ≥ (t − 3d)/(t + 3d)
    for the key's t trigrams. Zero or less means the index cannot narrow (degenerate keys).
    """
    s = min_score / 100
    most_edits = math.floor(2 * len(key) * (1 - s) / s + 1e-9)
    t = len(pg_trigrams(key))
    if t == 0:
        return 0.0
    return (t - 3 * most_edits) / (t + 3 * most_edits) - 1e-6  # pg_trgm computes in float4


def _keys_row(f: _Features) -> tuple:
    long_enough = len(f.description) >= DESCRIPTION_MIN_CHARS
    # media/images.py stores imagehash's default 64-bit phash; a wider one is not indexed.
    phash = f.phash if f.phash is not None and f.phash < 1 << PHASH_BITS else None
    return (
        f.id,
        f.end_date,
        f.title,
        hashlib.blake2b(f.description.encode(), digest_size=16).hexdigest() if long_enough else None,
        sorted(f.links),
        None if phash is None else _signed64(phash),
        *(phash_chunks(phash) if phash is not None else [None] * PHASH_CHUNKS),
    )


def update_stale_keys(conn) -> int:
    """Recompute the search keys of records changed since their last keying; return how many.

    Rows another transaction is changing right now are skipped: that transaction refreshes its
    own record, and waiting for it here could deadlock on the detection lock.
    """
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            f"SELECT {_COLUMNS} {_FROM} JOIN duplicate_keys k ON k.competition_id = c.id "
            "WHERE k.stale FOR UPDATE OF k SKIP LOCKED"
        )
        rows = [_keys_row(_Features.of(row)) for row in cur.fetchall()]
        if rows:
            execute_values(
                cur,
                """
                UPDATE duplicate_keys AS k
                SET stale = false, end_date = v.end_date, title_key = v.title_key,
                    description_hash = v.description_hash, links = v.links,
                    phash_bits = v.phash_bits, phash_chunk0 = v.c0, phash_chunk1 = v.c1,
                    phash_chunk2 = v.c2, phash_chunk3 = v.c3
                FROM (VALUES %s) AS v (id, end_date, title_key, description_hash, links,
                                      phash_bits, c0, c1, c2, c3)
                WHERE k.competition_id = v.id
                """,
                rows,
                template="(%s, %s::date, %s, %s, %s::text[], %s::bigint, %s::integer, "
                         "%s::integer, %s::integer, %s::integer)",
                page_size=1000,
            )
    return len(rows)


def _title_matches(cur, target: _Features) -> set[int]:
    """Records whose title may pass the title rule against the target's (exact superset)."""
    if not target.title:
        return set()
    found: set[int] = set()
    if target.end_date is not None:
        # Both deadlines known: only the ±4-day window can pass, and it is small; score it all.
        window = timedelta(days=DEADLINE_WINDOW_DAYS)
        cur.execute(
            "SELECT competition_id, title_key FROM duplicate_keys "
            "WHERE end_date BETWEEN %s AND %s AND title_key <> ''",
            (target.end_date - window, target.end_date + window),
        )
        rows = cur.fetchall()
        hits = process.extract(target.title, [r[1] for r in rows], scorer=fuzz.token_sort_ratio,
                               score_cutoff=TITLE_MIN_SCORE, limit=None)
        found.update(rows[index][0] for _, _, index in hits)
    # One deadline missing: near-identical titles only, found through the trigram index.
    undated = "end_date IS NULL AND " if target.end_date is not None else ""
    floor = trigram_floor(target.title, TITLE_MIN_SCORE_NO_DEADLINE)
    if floor > 0:
        # One query string is one transaction even in autocommit, so the local threshold holds
        # for the search (and ends with the caller's transaction; nothing else uses it).
        cur.execute(
            "SELECT set_config('pg_trgm.similarity_threshold', %s, true); "
            f"SELECT competition_id, title_key FROM duplicate_keys "
            f"WHERE {undated}title_key %% %s",
            (str(floor), target.title),
        )
    else:
        cur.execute(
            f"SELECT competition_id, title_key FROM duplicate_keys WHERE {undated}title_key <> ''"
        )
    rows = cur.fetchall()
    hits = process.extract(target.title, [r[1] for r in rows], scorer=fuzz.token_sort_ratio,
                           score_cutoff=TITLE_MIN_SCORE_NO_DEADLINE, limit=None)
    found.update(rows[index][0] for _, _, index in hits)
    return found


def _key_matches(cur, target: _Features) -> set[int]:
    """Records sharing a link, the description, the poster or a near-identical phash."""
    _, _, _, description_hash, links, *_ = _keys_row(target)
    parts, params = [], []
    if links:
        parts.append("SELECT competition_id FROM duplicate_keys WHERE links && %s::text[]")
        params.append(links)
    if description_hash:
        parts.append("SELECT competition_id FROM duplicate_keys WHERE description_hash = %s")
        params.append(description_hash)
    if target.image_id is not None:
        parts.append("SELECT id FROM competitions WHERE image_id = %s")
        params.append(target.image_id)
    if target.phash is not None and target.phash < 1 << PHASH_BITS:
        chunk_match = " OR ".join(f"phash_chunk{p} = ANY(%s)" for p in range(PHASH_CHUNKS))
        parts.append(
            f"SELECT competition_id FROM duplicate_keys WHERE ({chunk_match}) "
            "AND bit_count((phash_bits # %s)::bit(64)) <= %s"
        )
        params += [*phash_probes(target.phash), _signed64(target.phash), POSTER_MAX_DISTANCE]
    if not parts:
        return set()
    cur.execute(" UNION ".join(parts), params)
    return {r[0] for r in cur.fetchall()}


def find_candidates(conn, competition_id: int) -> list[Candidate]:
    update_stale_keys(conn)
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(f"SELECT {_COLUMNS} {_FROM} WHERE c.id = %s", (competition_id,))
        row = cur.fetchone()
        if row is None:
            raise LookupError(f"competition {competition_id} does not exist")
    target = _Features.of(row)
    with conn.cursor() as cur:
        ids = _key_matches(cur, target) | _title_matches(cur, target)
    ids.discard(competition_id)
    if not ids:
        return []
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(f"SELECT {_COLUMNS} {_FROM} WHERE c.id = ANY(%s)", (sorted(ids),))
        others = cur.fetchall()
    found = (compare(target, _Features.of(other)) for other in others)
    return sorted((c for c in found if c is not None), key=lambda c: c.other_id)


DUPLICATE_DETECTION_LOCK = 0x6C6F6D6264  # any constant unique to this lock


def refresh_duplicate_candidates(conn, competition_id: int) -> list[Candidate]:
    """Recompute the candidates of one record (call after a record is stored or edited).

    Runs in the caller's transaction. Pairs that no longer match are removed, so an edit that
    fixes a wrong title also drops the wrong candidate.
    """
    with conn.cursor() as cur:
        # Serialise detection until commit: two records stored concurrently would otherwise not
        # see each other (each transaction is blind to the other's uncommitted row).
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (DUPLICATE_DETECTION_LOCK,))
    candidates = find_candidates(conn, competition_id)
    with conn.cursor() as cur:
        cur.execute(
            "DELETE FROM duplicate_candidates WHERE competition_id = %s OR candidate_id = %s",
            (competition_id, competition_id),
        )
        for cand in candidates:
            low, high = sorted((competition_id, cand.other_id))
            cur.execute(
                """
                INSERT INTO duplicate_candidates
                    (competition_id, candidate_id, reasons, title_score, phash_distance)
                VALUES (%s, %s, %s, %s, %s)
                ON CONFLICT (competition_id, candidate_id) DO UPDATE
                SET reasons = EXCLUDED.reasons, title_score = EXCLUDED.title_score,
                    phash_distance = EXCLUDED.phash_distance, found_at = now()
                """,
                (low, high, list(cand.reasons), cand.title_score, cand.phash_distance),
            )
    return candidates


def candidate_pairs(conn, ids: list[int] | None = None) -> list[dict]:
    """Stored pairs (all, or those touching ``ids``)."""
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        if ids is None:
            cur.execute("SELECT * FROM duplicate_candidates ORDER BY competition_id, candidate_id")
        else:
            cur.execute(
                "SELECT * FROM duplicate_candidates WHERE competition_id = ANY(%s) "
                "OR candidate_id = ANY(%s) ORDER BY competition_id, candidate_id",
                (list(ids), list(ids)),
            )
        return [dict(r) for r in cur.fetchall()]


def duplicate_groups(conn) -> list[list[int]]:
    """Connected groups (two or more records), each sorted, ordered by their lowest id."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for pair in candidate_pairs(conn):
        ra, rb = find(pair["competition_id"]), find(pair["candidate_id"])
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for node in parent:
        groups.setdefault(find(node), []).append(node)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: g[0])


def group_of(conn, competition_id: int) -> list[int]:
    """The record's group (itself alone when it has no candidates)."""
    with conn.cursor() as cur:
        cur.execute(
            """
            WITH RECURSIVE grp(id) AS (
                SELECT %s::bigint
                UNION
                SELECT CASE WHEN d.competition_id = g.id THEN d.candidate_id ELSE d.competition_id END
                FROM duplicate_candidates d JOIN grp g
                  ON d.competition_id = g.id OR d.candidate_id = g.id
            )
            SELECT id FROM grp ORDER BY id
            """,
            (competition_id,),
        )
        return [r[0] for r in cur.fetchall()]
