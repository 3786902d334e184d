"""Duplicate grouping on records built from the corpus.

The 14 infolomba.id records are real (corpus/web/infolomba.id); the 12 Instagram posts are real
captions (corpus/ig/comp-automations). The two Instagram *reposts* of "Indonesia Tax Olympiade 2026"
are SYNTHETIC: built from that real infolomba record the way aggregators repost (its own headline
as the title, the registration link with a trailing slash, the poster re-encoded, a Unicode-bold
title with a deadline one day off). Posters are synthetic images (the corpus URLs have expired).
"""

import json
from datetime import date

import pytest

from lomba_pipeline.catalog.review.actions import edit_record
from lomba_pipeline.catalog.review.duplicates import (
    duplicate_groups,
    group_of,
    normalise_url,
    refresh_duplicate_candidates,
    title_score,
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
