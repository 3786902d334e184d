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
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from urllib.parse import urlsplit

from psycopg2.extras import RealDictCursor
from rapidfuzz import fuzz

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


@dataclass(frozen=True)
class _Features:
    """What the rules compare, computed once per record."""

    id: int
    links: frozenset[str]
    description: str
    title: str  # stop-word-free, space-joined
    end_date: date | None
    image_id: int | None
    phash: int | None

    @classmethod
    def of(cls, row: dict) -> _Features:
        return _features(row["id"], row["canonical_url"], row["registration_url"],
                         row["description"], row["title"], row["end_date"], row["image_id"],
                         row.get("phash"))


# Normalising is most of the cost of a refresh (~30 µs per record); the extraction stage refreshes
# record after record in one process, so the features of unchanged records are remembered.
@lru_cache(maxsize=20_000)
def _features(id, canonical_url, registration_url, description, title, end_date, image_id,
              phash) -> _Features:
    links = (normalise_url(canonical_url), normalise_url(registration_url))
    return _Features(
        id=id,
        links=frozenset(u for u in links if u),
        description=normalise_text(description),
        title=" ".join(title_tokens(title)),
        end_date=end_date,
        image_id=image_id,
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


def find_candidates(conn, competition_id: int) -> list[Candidate]:
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            f"SELECT {_COLUMNS} FROM competitions c LEFT JOIN images i ON i.id = c.image_id "
            "WHERE c.id = %s",
            (competition_id,),
        )
        target = cur.fetchone()
        if target is None:
            raise LookupError(f"competition {competition_id} does not exist")
        # Every other record: the rules are cheap (a few µs per pair, see bench/), and a
        # SQL pre-filter that is exact for all four rules would scan the table anyway.
        cur.execute(
            f"SELECT {_COLUMNS} FROM competitions c LEFT JOIN images i ON i.id = c.image_id "
            "WHERE c.id <> %s",
            (competition_id,),
        )
        others = cur.fetchall()
    features = _Features.of(target)
    found = (compare(features, _Features.of(other)) for other in others)
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
