"""Duplicate grouping on records built from the corpus.

The 14 infolomba.id records are real (corpus/web/infolomba.id); the 12 Instagram posts are real
captions (corpus/ig/comp-automations). The two Instagram *reposts* of "Indonesia Tax Olympiade 2026"
are SYNTHETIC: built from that real infolomba record the way aggregators repost (its own headline
as the title, the registration link with a trailing slash, the poster re-encoded, a Unicode-bold
title with a deadline one day off). Posters are synthetic images (the corpus URLs have expired).
"""

import json
import random
import string
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapidfuzz import fuzz

from lomba_pipeline.catalog.review.actions import edit_record
from lomba_pipeline.catalog.review.duplicates import (
    _COLUMNS,
    POSTER_MAX_DISTANCE,
    TITLE_MIN_SCORE_NO_DEADLINE,
    candidate_pairs,
    compare,
    duplicate_groups,
    group_of,
    normalise_url,
    pg_trigrams,
    phash_chunks,
    phash_probes,
    refresh_duplicate_candidates,
    title_score,
    trigram_floor,
)
from lomba_pipeline.settings import PROJECT_ROOT
from lomba_pipeline_tests.review.conftest import insert_record, poster_bytes, reencoded

pytestmark = pytest.mark.timeout(120)
CORPUS = PROJECT_ROOT.parent / "shared" / "corpus"


def _infolomba():
    return json.loads((CORPUS / "web/infolomba.id/scraped_records_compScraper.json").read_text())


def _ig_posts():
    for name in ("infolomba.indonesia.id", "csrelatedcompetitions"):
        data = json.loads((CORPUS / f"ig/comp-automations/{name}.json").read_text())
        for post in data["posts"]:
            yield name, post


def _build_catalog(pg, store):
    ids = {}
    posters = {}
    for rec in _infolomba():
        posters[rec["event_id"]] = poster_bytes(int(rec["event_id"]))
        ids[rec["title"]] = insert_record(
            pg, store, poster=posters[rec["event_id"]], source_kind="web",
            source_name="infolomba.id", canonical_url=rec["source_url"], title=rec["title"],
            organizer=rec["organizer"], description=rec["description"],
            registration_url=rec["registration_url"], guidebook_url=rec["guidebook_url"],
            end_date=date.fromisoformat(rec["deadline"]),
        )
    for account, post in _ig_posts():
        caption = post["caption"]
        ids[post["shortcode"]] = insert_record(
            pg, store, poster=poster_bytes(hash(post["shortcode"]) % 100000 + 5000),
            source_kind="ig", source_name=account, canonical_url=post["url"],
            title=caption.splitlines()[0][:200], description=caption, end_date=None,
        )
    tax = next(r for r in _infolomba() if r["title"] == "Indonesia Tax Olympiade 2026")
    ids["repost_a"] = insert_record(  # same link and same poster, re-encoded
        pg, store, poster=reencoded(posters[tax["event_id"]]), source_kind="ig",
        source_name="infolomba.indonesia.id",
        canonical_url="https://www.instagram.com/p/SYNTHtaxA01/",
        title=tax["description"], registration_url=tax["registration_url"] + "/",
        end_date=date.fromisoformat(tax["deadline"]),
    )
    ids["repost_b"] = insert_record(  # no link ("link di bio"), its own poster, fancy title
        pg, store, poster=poster_bytes(999_001), source_kind="ig", source_name="lomba_mahasiswa",
        canonical_url="https://www.instagram.com/p/SYNTHtaxB02/",
        title="🔥 𝐈𝐍𝐃𝐎𝐍𝐄𝐒𝐈𝐀 𝐓𝐀𝐗 𝐎𝐋𝐘𝐌𝐏𝐈𝐀𝐃𝐄 𝟐𝟎𝟐𝟔 IS BACK!",
        end_date=date(2026, 10, 30),
    )
    return ids


def test_one_competition_from_three_sources_is_one_group(postgres, local_store):
    ids = _build_catalog(postgres, local_store)
    tax = ids["Indonesia Tax Olympiade 2026"]
    with postgres.connection() as conn:
        groups = duplicate_groups(conn)
        assert groups == [sorted([tax, ids["repost_a"], ids["repost_b"]])]
        assert group_of(conn, ids["repost_b"]) == groups[0]
        with conn.cursor() as cur:
            cur.execute("SELECT competition_id, candidate_id, reasons FROM duplicate_candidates")
            reasons = {frozenset((a, b)): set(r) for a, b, r in cur.fetchall()}
    assert reasons[frozenset((tax, ids["repost_a"]))] >= {"same_url", "similar_poster"}
    assert reasons[frozenset((ids["repost_a"], ids["repost_b"]))] == {"similar_title"}
    assert reasons[frozenset((tax, ids["repost_b"]))] == {"similar_title"}


def test_different_competitions_with_similar_titles_stay_apart(postgres, local_store):
    ids = _build_catalog(postgres, local_store)
    grouped = set(duplicate_groups_flat(postgres))
    for title in ("Investment Festival 2026", "National North Sumatera Investment Festival 5.0",
                  "AGRIFEST 2026", "ICAIS 2026", "Lomba Menulis", "Poster Competition"):
        assert ids[title] not in grouped, title
    # the real captions: "Lomba Menulis Surat Gratis" is not infolomba's "Lomba Menulis"
    assert ids["Ctpk6sZSlQQ"] not in grouped


def duplicate_groups_flat(pg):
    with pg.connection() as conn:
        return [m for g in duplicate_groups(conn) for m in g]


def test_similar_titles_need_close_deadlines(postgres):
    a = insert_record(postgres, title="Lomba Esai Nasional Hari Pahlawan", end_date=date(2026, 11, 10))
    b = insert_record(postgres, title="LOMBA ESAI HARI PAHLAWAN", end_date=date(2026, 11, 14))
    c = insert_record(postgres, title="Lomba Esai Hari Pahlawan", end_date=date(2026, 11, 20))
    with postgres.connection() as conn:
        assert duplicate_groups(conn) == [[a, b]]
        assert group_of(conn, c) == [c]


def test_editing_a_wrong_field_drops_the_candidate(postgres):
    a = insert_record(postgres, title="Olimpiade Sains Nusantara", end_date=date(2026, 12, 1))
    b = insert_record(postgres, title="Olimpiade Sains Nusantara", end_date=date(2026, 12, 2))
    with postgres.connection() as conn:
        assert duplicate_groups(conn) == [[a, b]]
        edit_record(conn, b, {"title": "Festival Film Pendek Pelajar"}, actor="rina")
        assert duplicate_groups(conn) == []
        edit_record(conn, b, {"registration_url": "https://example.test/lomba/"}, actor="rina")
        assert duplicate_groups(conn) == []
        # the same registration link, typed differently, is a match again
        edit_record(conn, a, {"registration_url": "http://www.bit.ly/OSN-2026"}, actor="rina")
        edit_record(conn, b, {"registration_url": "https://bit.ly/OSN-2026/"}, actor="rina")
        assert duplicate_groups(conn) == [[a, b]]
        assert refresh_duplicate_candidates(conn, a)[0].reasons == ("same_url",)


def test_poster_distance_is_imagehash_distance(postgres, local_store):
    from lomba_pipeline.media.images import inspect_image, phash_distance

    original = poster_bytes(77)
    a, b = (inspect_image(x, "t").phash for x in (original, reencoded(original)))
    c = inspect_image(poster_bytes(78), "t").phash
    ids = [insert_record(postgres, local_store, poster=x, end_date=None, title=f"T{i}")
           for i, x in enumerate((original, reencoded(original), poster_bytes(78)))]
    with postgres.connection() as conn:
        found = {cand.other_id: cand.phash_distance for cand in refresh_duplicate_candidates(conn, ids[0])}
    assert found == {ids[1]: phash_distance(a, b)}
    assert phash_distance(a, c) > 6


def test_normalisation_rules():
    assert normalise_url("https://www.Linktr.ee/abc/") == normalise_url("linktr.ee/abc")
    assert normalise_url("https://forms.gle/") is None
    assert title_score("𝐊𝐒𝐀𝐈 𝟐𝟎𝟐𝟔", "KSAI 2026") == 100
    assert title_score("Lomba", "Kompetisi Nasional") == 0  # nothing left after stop-words


def test_same_description_matches_but_short_boilerplate_does_not(postgres):
    text = ("Kompetisi Sains Akademik Indonesia untuk jenjang SD, SMP dan SMA tingkat nasional, "
            "online melalui website sentralolimpiade.id")
    a = insert_record(postgres, title="KSAI", description=text, end_date=None)
    b = insert_record(postgres, title="Olimpiade Akademik", description=text.upper(), end_date=None)
    insert_record(postgres, title="X1", description="OPEN REGISTRATION!", end_date=None)
    insert_record(postgres, title="Y2", description="OPEN REGISTRATION!", end_date=None)
    with postgres.connection() as conn:
        assert duplicate_groups(conn) == [[a, b]]


# --- The SQL-narrowed search finds every pair the full-scan rules find ---------------------------

def _bold(text: str) -> str:
    """Unicode-bold capitals and digits, as aggregators style their captions."""
    return "".join(chr(0x1D400 + ord(c) - 65) if "A" <= c <= "Z"
                   else chr(0x1D7CE + ord(c) - 48) if c.isdigit() else c for c in text.upper())


def _typos(text: str, rng: random.Random, count: int) -> str:
    chars = list(text)
    for _ in range(count):
        i = rng.randrange(len(chars))
        op = rng.randrange(3)
        if op == 0:
            chars.insert(i, rng.choice(string.ascii_lowercase))
        elif op == 1:
            chars[i] = rng.choice(string.ascii_lowercase)
        elif len(chars) > 1:
            del chars[i]
    return "".join(chars)


def _flip(phash: int, bits) -> int:
    for bit in bits:
        phash ^= 1 << bit
    return phash


def _mixed_catalog(rng: random.Random) -> list[dict]:
    """Distinct records plus reposts near every rule's edge (deadline 4 vs 5 days apart, phash
    distance 6 vs 7 spread over all four chunks, typo'd titles whose trigrams barely overlap)."""
    subjects = ("olimpiade sains matematika esai poster fotografi debat hackathon karya tulis "
                "ilmiah cerpen puisi desain videografi pidato kaligrafi robotik investasi hukum "
                "film pendek fisika kimia biologi ekonomi").split()
    first = date(2027, 1, 1)
    records: list[dict] = []
    for n in range(120):
        org = "".join(rng.choice(string.ascii_lowercase) for _ in range(4))
        records.append({
            "title": f"Lomba {' '.join(rng.sample(subjects, rng.randrange(1, 4)))} {org} 2027",
            "description": f"{org} mengadakan lomba tingkat nasional, hadiah {n} juta rupiah.",
            "end_date": None if n % 9 == 0 else first + timedelta(days=rng.randrange(120)),
            "registration_url": f"https://bit.ly/{org}{n}" if n % 2 else None,
            "phash": rng.getrandbits(64),
        })
    bases = list(records)
    for n in range(180):
        base = rng.choice(bases)
        shift = rng.choice((-5, -4, -1, 0, 2, 4, 5, None))
        end_date = base["end_date"] and shift is not None and base["end_date"] + timedelta(days=shift)
        repost = {"title": f"Info lomba {n}", "description": f"Repost nomor {n}",
                  "end_date": end_date or None, "registration_url": None,
                  "phash": rng.getrandbits(64)}
        kind = n % 6
        if kind == 0:
            repost["title"] = _typos(base["title"].lower(), rng, rng.randrange(1, 6))
        elif kind == 1:
            repost["title"] = f"🔥 {_bold(base['title'])} IS BACK!"
        elif kind == 2 and base["registration_url"]:
            repost["registration_url"] = base["registration_url"].replace(
                "https://", rng.choice(("http://www.", "", "https://m."))) + "/"
        elif kind == 3:
            repost["description"] = base["description"].upper()
        elif kind == 4:  # 6 or 7 differing bits, at least one in each 16-bit chunk
            bits = [rng.randrange(16 * p, 16 * p + 16) for p in range(4)]
            extra = rng.sample([b for b in range(64) if b not in bits], rng.choice((2, 3)))
            repost["phash"] = _flip(base["phash"], bits + extra)
        else:  # a title near-identical to the base's, one of the two without a deadline
            repost["title"] = _typos(base["title"], rng, 1)
            repost["end_date"] = None
        records.append(repost)
    records.append({"title": "ab " * 40, "description": None, "end_date": None,
                    "registration_url": None, "phash": None})  # no trigram floor: full scan
    records.append({"title": "ab " * 40 + "cdefghijkl", "description": None, "end_date": None,
                    "registration_url": None, "phash": None})
    return records


def _insert_plain(pg, records: list[dict]) -> list[int]:
    """Rows as any writer leaves them, without a duplicate refresh."""
    ids = []
    with pg.connection() as conn, conn.cursor() as cur:
        for n, rec in enumerate(records):
            image_id = None
            if rec["phash"] is not None:
                cur.execute(
                    "INSERT INTO images (sha256, object_key, public_url, content_type, size_bytes, "
                    "phash) VALUES (%s, %s, 'http://x/p.jpg', 'image/jpeg', 1000, %s) RETURNING id",
                    (f"{n:064x}", f"posters/{n}.jpg", f"{rec['phash']:016x}"),
                )
                image_id = cur.fetchone()[0]
            url = f"https://example.test/mixed/{n}"
            cur.execute("INSERT INTO raw_items (source_kind, source_name, canonical_url) "
                        "VALUES ('ig', 'uji', %s) RETURNING id", (url,))
            cur.execute(
                "INSERT INTO competitions (raw_item_id, canonical_url, title, description, end_date, "
                "registration_url, image_id) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (cur.fetchone()[0], url, rec["title"], rec["description"], rec["end_date"],
                 rec["registration_url"], image_id),
            )
            ids.append(cur.fetchone()[0])
    return ids


def _full_scan_pairs(pg) -> dict[tuple[int, int], set[str]]:
    """The rules applied to every pair of records: what the search must find."""
    with pg.cursor() as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM competitions c LEFT JOIN images i ON i.id = c.image_id")
        rows = sorted(cur.fetchall(), key=lambda r: r["id"])
    pairs = {}
    for n, a in enumerate(rows):
        for b in rows[n + 1:]:
            found = compare(a, b)
            if found:
                pairs[(a["id"], b["id"])] = set(found.reasons)
    return pairs


def _stored_pairs(pg) -> dict[tuple[int, int], set[str]]:
    with pg.connection() as conn:
        return {(p["competition_id"], p["candidate_id"]): set(p["reasons"])
                for p in candidate_pairs(conn)}


@pytest.mark.parametrize("seed", [1, 2])
def test_search_finds_every_pair_the_full_scan_finds(postgres, seed):
    ids = _insert_plain(postgres, _mixed_catalog(random.Random(seed)))
    for cid in ids:
        with postgres.connection() as conn:
            refresh_duplicate_candidates(conn, cid)
    expected = _full_scan_pairs(postgres)
    # the set exercises every rule, and the edges a narrower index would miss
    reasons = [r for found in expected.values() for r in found]
    assert {r: reasons.count(r) >= 5 for r in
            ("same_url", "same_description", "similar_title", "similar_poster")} == dict.fromkeys(
        ("same_url", "same_description", "similar_title", "similar_poster"), True)
    titles = _titles_by_id(postgres)
    assert any(_trigram_similarity(titles[a], titles[b]) < 0.3
               for (a, b), found in expected.items() if "similar_title" in found)
    assert _stored_pairs(postgres) == expected


def _titles_by_id(pg) -> dict[int, str]:
    with pg.cursor() as cur:
        cur.execute("SELECT competition_id, title_key FROM duplicate_keys")
        return {r["competition_id"]: r["title_key"] for r in cur.fetchall()}


def _trigram_similarity(a: str, b: str) -> float:
    ta, tb = pg_trigrams(a), pg_trigrams(b)
    return len(ta & tb) / len(ta | tb) if ta | tb else 0.0


def test_poster_at_the_distance_limit_is_found_whatever_its_title(postgres):
    base = 0x0123456789ABCDEF
    six_bits = _flip(base, (1, 9, 17, 25, 40, 60))  # 2 + 2 + 1 + 1 over the four chunks
    seven_bits = _flip(base, (1, 9, 17, 25, 40, 60, 33))
    ids = _insert_plain(postgres, [
        {"title": "Olimpiade Sains Nusantara", "description": None, "end_date": date(2027, 3, 1),
         "registration_url": None, "phash": phash}
        if n == 0 else
        {"title": f"Festival Film Pendek {n}", "description": None,
         "end_date": date(2027, 9, 1), "registration_url": None, "phash": phash}
        for n, phash in enumerate((base, six_bits, seven_bits))
    ])
    with postgres.connection() as conn:
        found = {c.other_id: (c.reasons, c.phash_distance)
                 for c in refresh_duplicate_candidates(conn, ids[0])}
    assert found == {ids[1]: (("similar_poster",), 6)}


def test_a_record_changed_without_a_refresh_is_found_by_the_next_one(postgres):
    a = insert_record(postgres, title="Lomba Debat Hukum Konstitusi", end_date=date(2027, 2, 1))
    b = insert_record(postgres, title="Festival Tari Daerah", end_date=date(2027, 2, 2))
    with postgres.connection() as conn, conn.cursor() as cur:  # a writer that does not refresh
        cur.execute("UPDATE competitions SET title = 'DEBAT HUKUM KONSTITUSI 2027' WHERE id = %s",
                    (b,))
    with postgres.connection() as conn:
        assert [c.other_id for c in refresh_duplicate_candidates(conn, a)] == [b]


def test_records_stored_before_the_migration_are_found(scratch_database, tmp_path):
    from lomba_pipeline.db.migrations import apply_migrations
    from lomba_pipeline.resources.postgres import PostgresResource
    from lomba_pipeline.settings import get_settings

    before = tmp_path / "sql"
    before.mkdir()
    for path in get_settings().sql_dir.glob("*.sql"):
        if int(path.name[:3]) < 15:
            (before / path.name).write_text(path.read_text())
    apply_migrations(scratch_database, before)
    pg = PostgresResource(database_url=scratch_database)
    ids = _insert_plain(pg, [
        {"title": title, "description": None, "end_date": date(2027, 5, 5),
         "registration_url": None, "phash": None}
        for title in ("Kompetisi Robotik Nasional 2027", "KOMPETISI ROBOTIK 2027 (dibuka!)")
    ])
    apply_migrations(scratch_database, get_settings().sql_dir)
    with pg.connection() as conn:
        assert [c.other_id for c in refresh_duplicate_candidates(conn, ids[0])] == [ids[1]]


# --- The two index arguments, checked on their own ------------------------------------------------

@given(st.integers(0, 2**64 - 1), st.sets(st.integers(0, 63), max_size=POSTER_MAX_DISTANCE))
def test_a_phash_within_the_limit_shares_a_probed_chunk(phash, bits):
    other = phash_chunks(_flip(phash, bits))
    assert any(other[p] in probes for p, probes in enumerate(phash_probes(phash)))


_WORDS = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=9)


@given(st.lists(_WORDS, min_size=1, max_size=8), st.data())
def test_no_title_above_the_no_deadline_score_falls_under_its_trigram_floor(words, data):
    a = " ".join(words)
    edits = data.draw(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 200),
                                         st.sampled_from(string.ascii_lowercase + " ")),
                               max_size=4))
    chars = list(a)
    for op, at, char in edits:
        at = at % (len(chars) + 1)
        if op == 0:
            chars.insert(at, char)
        elif chars and at < len(chars):
            chars[at] = char if op == 1 else ""
    b = " ".join("".join(chars).split())
    if fuzz.token_sort_ratio(a, b) >= TITLE_MIN_SCORE_NO_DEADLINE:
        assert _trigram_similarity(a, b) >= trigram_floor(a, TITLE_MIN_SCORE_NO_DEADLINE)


def test_trigrams_are_the_ones_pg_trgm_counts(postgres):
    keys = ["ksai 2026", "olimpiade sains nasional", "ab ab ab", "x", "osn 2026 osn", "a1b2 c3"]
    with postgres.cursor() as cur:
        cur.execute("SELECT k, show_trgm(k) AS grams FROM unnest(%s::text[]) AS k", (keys,))
        from_pg = {r["k"]: set(r["grams"]) for r in cur.fetchall()}
    assert from_pg == {k: pg_trigrams(k) for k in keys}
