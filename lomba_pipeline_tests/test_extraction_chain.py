"""The chain end to end on the real Postgres and object store, with the real SDKs against the
local fake: text step, poster step only for empty key fields, Mistral → Gemini fallback,
outages marked and retried next run, complete records never sent again, the ledger, the assets."""

import base64
import datetime as dt
import json

import dagster as dg
import pytest
from psycopg2.extras import Json

from lomba_pipeline.catalog.extraction.assets import (
    competitions,
    extracted_fields,
    impossible_competitions,
)
from lomba_pipeline.catalog.extraction.runner import (
    build_extractor,
    extract_pending,
    run_extraction,
)
from lomba_pipeline.resources.ai import AiConfig, AiResource
from lomba_pipeline_tests.fakes.ai_providers import DEFAULT_RECORD, FakeAiProviders

pytestmark = pytest.mark.timeout(180)

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
CAPTION = (
    "LOMBA ESAI NASIONAL 2025\nPendaftaran: 1 - 20 Januari 2025\nBiaya: Rp 50.000\n"
    "CP: 0812-3456-7890\nDaftar: bit.ly/DaftarEsai2025"
)
WITHOUT_ORGANIZER = {k: v for k, v in DEFAULT_RECORD.items() if k not in ("organizer", "levels")}


@pytest.fixture(scope="module")
def fake():
    with FakeAiProviders() as server:
        yield server


@pytest.fixture
def ai(fake):
    fake.calls.clear()
    fake._failures.clear()
    for queue in fake._queues.values():
        queue.clear()
    return AiConfig(
        zhipu_api_key="test-zhipu-key", zhipu_base_url=fake.zhipu_base_url,
        mistral_api_key="test-mistral-key", mistral_base_url=fake.url,
        gemini_api_key="test-gemini-key", gemini_base_url=fake.url,
        timeout_seconds=1.0, max_attempts=2, backoff_seconds=0.01,
    )


def add_poster(postgres, store, data=PNG) -> int:
    stored = store.put(data, "image/png")
    with postgres.cursor() as cur:
        cur.execute(
            "INSERT INTO images (sha256, object_key, public_url, content_type, size_bytes) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (stored.sha256, stored.key, stored.public_url, "image/png", stored.size),
        )
        return cur.fetchone()["id"]


def add_raw_item(postgres, url, caption=CAPTION, image_id=None, posted_at="2024-12-20", hints=None):
    with postgres.cursor() as cur:
        cur.execute(
            "INSERT INTO raw_items (source_kind, source_name, canonical_url, caption, posted_at, "
            "image_id, hints) VALUES ('ig', 'infolomba.indonesia.id', %s, %s, %s, %s, %s) "
            "RETURNING id",
            (url, caption, posted_at, image_id, Json(hints or {})),
        )
        return cur.fetchone()["id"]


def competition(postgres, raw_item_id):
    with postgres.cursor() as cur:
        cur.execute("SELECT * FROM competitions WHERE raw_item_id = %s", (raw_item_id,))
        return cur.fetchone()


def attempts(postgres, raw_item_id):
    with postgres.cursor() as cur:
        cur.execute(
            "SELECT provider, step, outcome, error, prompt_tokens FROM extraction_attempts "
            "WHERE raw_item_id = %s ORDER BY id", (raw_item_id,),
        )
        return [(r["provider"], r["step"], r["outcome"]) for r in cur.fetchall()]


def needs_extraction(postgres, raw_item_id) -> bool:
    with postgres.cursor() as cur:
        cur.execute("SELECT needs_extraction FROM raw_items WHERE id = %s", (raw_item_id,))
        return cur.fetchone()["needs_extraction"]


def run(postgres, store, config, mode="chain", transfer="auto", workers=4):
    return run_extraction(postgres, build_extractor(config, mode, store, transfer), workers=workers)


def test_without_keys_the_rules_provider_fills_the_record(postgres, local_store, settings):
    raw_id = add_raw_item(postgres, "https://www.instagram.com/p/RULES1/")
    summary = extract_pending(postgres, local_store, settings)
    assert summary.mode == "rules" and summary.ai_calls == 0
    row = competition(postgres, raw_id)
    assert row["title"] == "LOMBA ESAI NASIONAL 2025"
    assert (row["start_date"].isoformat(), row["end_date"].isoformat()) == ("2025-01-01", "2025-01-20")
    assert row["fee_amount"] == 50000 and row["contact_phones"] == ["+6281234567890"]
    assert row["registration_url"] == "https://bit.ly/DaftarEsai2025"
    assert row["extracted_from"]["end_date"] == "rules"
    assert row["extraction_status"] == "partial"  # no organizer, no level in the caption
    assert attempts(postgres, raw_id) == [("rules", "text", "ok")]
    assert not needs_extraction(postgres, raw_id)


def test_complete_text_step_never_touches_the_poster(postgres, local_store, ai, fake):
    raw_id = add_raw_item(postgres, "https://www.instagram.com/p/TEXT1/",
                          image_id=add_poster(postgres, local_store))
    summary = run(postgres, local_store, ai)
    row = competition(postgres, raw_id)
    assert row["organizer"] == "BEM FH UI" and row["levels"] == ["SMA", "Mahasiswa"]
    assert row["extracted_from"]["organizer"] == "zhipu"
    assert row["extracted_from"]["fee_amount"] == "rules"  # the rules fill what GLM left empty
    assert row["extraction_status"] == "done"
    assert fake.calls_to("/v1/ocr") == [] and fake.calls_to("generateContent") == []
    assert attempts(postgres, raw_id) == [("zhipu", "text", "ok"), ("rules", "text", "ok")]
    assert summary.prompt_tokens == 120 and summary.calls["zhipu"] == 1
    body = fake.calls_to("/chat/completions")[0].json()
    assert "LOMBA ESAI NASIONAL 2025" in body["messages"][1]["content"]


def test_poster_ocr_fills_only_the_empty_fields(postgres, object_store, ai, fake):
    # object_store: the local directory store and R2 (moto) — bytes come from either
    fake.queue_zhipu(json.dumps({**WITHOUT_ORGANIZER, "title": "Lomba Esai (dari teks)"}))
    fake.queue_ocr((
        "# LOMBA ESAI DARI POSTER\n\nPenyelenggara: BEM FH UI\n\nKhusus Mahasiswa S1\n\n"
        "Pendaftaran: 5 - 30 Januari 2025", None,
    ))
    raw_id = add_raw_item(postgres, "https://www.instagram.com/p/OCR1/",
                          image_id=add_poster(postgres, object_store))
    run(postgres, object_store, ai)
    row = competition(postgres, raw_id)
    assert row["organizer"] == "BEM FH UI" and row["extracted_from"]["organizer"] == "mistral"
    assert row["levels"] == ["Mahasiswa"] and row["extracted_from"]["levels"] == "mistral"
    assert row["title"] == "Lomba Esai (dari teks)"  # filled fields are never overwritten
    assert row["end_date"].isoformat() == "2025-01-20"
    # the local store's URL is not reachable from Mistral: the poster goes as a data URL
    sent = fake.calls_to("/v1/ocr")[0].json()["document"]["image_url"]
    assert sent == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert attempts(postgres, raw_id) == [
        ("zhipu", "text", "ok"), ("rules", "text", "ok"), ("mistral", "ocr", "ok"),
    ]
    assert row["extraction_status"] == "done"


def test_public_poster_url_is_sent_as_is(postgres, local_store, ai, fake):
    fake.queue_zhipu(json.dumps(WITHOUT_ORGANIZER))
    raw_id = add_raw_item(postgres, "https://www.instagram.com/p/URL1/",
                          image_id=add_poster(postgres, local_store))
    run(postgres, local_store, ai, transfer="url")
    sent = fake.calls_to("/v1/ocr")[0].json()["document"]["image_url"]
    assert sent.startswith("https://media.example.test/posters/") and sent.endswith(".png")
    assert competition(postgres, raw_id)["organizer"] == "BEM FH UI"


@pytest.mark.parametrize("mistral_failure", ["placeholders", "http_500"])
def test_any_mistral_failure_falls_back_to_gemini(postgres, local_store, ai, fake, mistral_failure):
    fake.queue_zhipu(json.dumps(WITHOUT_ORGANIZER))
    if mistral_failure == "placeholders":
        fake.queue_ocr(("![img-0.jpeg](img-0.jpeg)", None))
        mistral_rows = [("mistral", "ocr", "empty")]
    else:
        fake.fail_next("/v1/ocr", status=500, times=2)
        mistral_rows = [("mistral", "ocr", "error")] * 2
    fake.queue_gemini(json.dumps({"organizer": "Gemini Organizer", "levels": ["SMA"],
                                  "title": "ignored, title is filled"}))
    raw_id = add_raw_item(postgres, f"https://www.instagram.com/p/FB{mistral_failure}/",
                          image_id=add_poster(postgres, local_store))
    summary = run(postgres, local_store, ai)
    row = competition(postgres, raw_id)
    assert row["organizer"] == "Gemini Organizer" and row["extracted_from"]["organizer"] == "gemini"
    assert row["title"] == "LOMBA ESAI NASIONAL 2025"
    assert row["extraction_status"] == "done" and row["extraction_error"] is None
    assert attempts(postgres, raw_id) == [
        ("zhipu", "text", "ok"), ("rules", "text", "ok"), *mistral_rows, ("gemini", "vision", "ok"),
    ]
    assert summary.calls["gemini"] == 1
    gemini_part = fake.calls_to("generateContent")[0].json()["contents"][0]["parts"][0]
    image = (gemini_part.get("inlineData") or gemini_part["inline_data"])["data"]
    assert base64.b64decode(image) == PNG


def test_outage_marks_the_record_and_the_next_run_retries_it(postgres, local_store, ai, fake):
    fake.fail_next("/chat/completions", status=503, times=2)
    fake.fail_next("/v1/ocr", status=500, times=2)
    fake.fail_next("generateContent", status=429, times=2)
    raw_id = add_raw_item(postgres, "https://www.instagram.com/p/OUT1/",
                          image_id=add_poster(postgres, local_store))
    other_id = add_raw_item(postgres, "https://www.instagram.com/p/OUT2/",
                            caption="LOMBA POSTER\nDeadline 20 Januari 2025")
    first = run(postgres, local_store, ai, workers=1)  # the injected failures hit OUT1
    row = competition(postgres, raw_id)
    assert row["extraction_status"] == "failed"
    assert "zhipu" in row["extraction_error"] and "gemini" in row["extraction_error"]
    assert row["end_date"].isoformat() == "2025-01-20"  # what the rules found is kept
    assert needs_extraction(postgres, raw_id)
    assert first.statuses["failed"] >= 1
    # the outage did not stop the other record
    assert competition(postgres, other_id) is not None

    second = run(postgres, local_store, ai)
    again = competition(postgres, raw_id)
    assert again["id"] == row["id"] and again["extraction_status"] == "done"
    assert again["extraction_error"] is None and not needs_extraction(postgres, raw_id)
    assert second.extracted >= 1
    with postgres.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM competitions")
        assert cur.fetchone()["n"] == 2
        cur.execute("SELECT kind FROM events WHERE subject = %s ORDER BY id", (f"raw_item:{raw_id}",))
        assert [r["kind"] for r in cur.fetchall()] == ["extract.record_failed", "extract.record_stored"]


def test_complete_records_are_never_sent_to_a_provider_again(postgres, local_store, ai, fake):
    raw_id = add_raw_item(postgres, "https://www.instagram.com/p/DONE1/",
                          image_id=add_poster(postgres, local_store))
    run(postgres, local_store, ai)
    assert competition(postgres, raw_id)["extraction_status"] == "done"
    calls_before = len(fake.calls)
    with postgres.cursor() as cur:  # ingestion saw the URL again
        cur.execute("UPDATE raw_items SET needs_extraction = true WHERE id = %s", (raw_id,))
    summary = run(postgres, local_store, ai)
    assert len(fake.calls) == calls_before
    assert summary.skipped_complete == 1 and summary.ai_calls == 0
    assert not needs_extraction(postgres, raw_id)


def test_incomplete_record_keeps_earlier_values_on_re_extraction(postgres, local_store, ai, fake):
    raw_id = add_raw_item(postgres, "https://www.instagram.com/p/KEEP1/")
    run(postgres, local_store, ai, mode="rules")
    with postgres.cursor() as cur:
        cur.execute("UPDATE competitions SET organizer = 'Panitia Lama' WHERE raw_item_id = %s",
                    (raw_id,))
        cur.execute("UPDATE raw_items SET needs_extraction = true WHERE id = %s", (raw_id,))
    fake.queue_zhipu(json.dumps({"title": "LOMBA ESAI", "levels": ["SMA"]}))
    run(postgres, local_store, ai)
    row = competition(postgres, raw_id)
    assert row["organizer"] == "Panitia Lama" and row["levels"] == ["SMA"]


def test_rules_cross_check_disagreement_is_recorded(postgres, local_store, ai, fake):
    raw_id = add_raw_item(postgres, "https://www.instagram.com/p/XCHECK/",
                          caption=CAPTION.replace("1 - 20 Januari", "1 - 25 Januari"))
    summary = run(postgres, local_store, ai)
    row = competition(postgres, raw_id)
    assert row["end_date"].isoformat() == "2025-01-20"  # the AI value is kept …
    assert summary.rules_disagree["end_date"] == 1
    with postgres.cursor() as cur:
        cur.execute("SELECT data FROM events WHERE subject = %s", (f"raw_item:{raw_id}",))
        data = cur.fetchone()["data"]
    assert data["rules_disagree"]["end_date"] == {"kept": "2025-01-20", "rules": "2025-01-25"}


def test_ai_resource_keeps_keys_as_env_vars(monkeypatch):
    from lomba_pipeline.definitions import build_definitions
    from lomba_pipeline.settings import load_settings

    monkeypatch.setenv("ZHIPUAI_API_KEY", "zk-very-secret")
    monkeypatch.setenv("LOMBA_ZHIPU_BASE_URL", "https://api.z.ai/api/paas/v4")
    resource = build_definitions(load_settings()).resources["ai"]
    assert isinstance(resource.zhipu_api_key, dg.EnvVar)
    assert resource.mistral_api_key is None
    assert resource.zhipu_base_url == "https://api.z.ai/api/paas/v4"
    assert "zk-very-secret" not in repr(resource)


def test_assets_report_metadata_and_the_check_flags_impossible_records(
    postgres, local_store, fake, ai
):
    add_raw_item(postgres, "https://www.instagram.com/p/ASSET1/")
    add_raw_item(postgres, "https://www.instagram.com/p/ASSET2/",
                 caption="LOMBA POSTER NASIONAL\nDeadline 20 Januari 2025\nKhusus mahasiswa")
    fake.queue_zhipu(json.dumps(WITHOUT_ORGANIZER), json.dumps(WITHOUT_ORGANIZER))
    chain = AiResource(zhipu_api_key="test-zhipu-key", zhipu_base_url=fake.zhipu_base_url,
                       extraction_provider="auto", backoff_seconds=0.01)
    result = dg.materialize(
        [extracted_fields, competitions, impossible_competitions],
        resources={"postgres": postgres, "object_store": local_store, "ai": chain},
        selection=[extracted_fields, competitions],
    )
    assert result.success
    meta = result.asset_materializations_for_node("extracted_fields")[0].metadata
    assert meta["mode"].value == "chain"
    assert meta["extracted"].value == 2 and meta["ai_calls"].value == 2
    assert meta["prompt_tokens"].value == 240 and meta["completion_tokens"].value == 60
    assert meta["failed"].value == 0 and meta["partial"].value == 2  # no organizer anywhere
    assert meta["fill_rate/end_date"].value == 1.0
    assert meta["fill_rate/organizer"].value == 0.0
    assert "| end_date | 2 | 100% |" in meta["summary"].value
    assert "| zhipu | 2 | 0 |" in meta["summary"].value
    catalog = result.asset_materializations_for_node("competitions")[0].metadata
    assert catalog["records"].value == 2 and catalog["status/partial"].value == 2
    # the cost ledger per day and provider: 2 calls, 300 tokens, no OCR page, GLM-4-Flash is free
    assert "| zhipu | 2 | 0 | 300 | 0 | 0.0000 |" in catalog["ai_cost_per_day"].value
    check = result.get_asset_check_evaluations()[0]
    assert check.passed

    with postgres.cursor() as cur:  # a record nobody could trust
        cur.execute("UPDATE competitions SET start_date = '2025-02-01', end_date = '2025-01-01' "
                    "WHERE canonical_url LIKE %s", ("%ASSET2%",))
    result = dg.materialize(
        [extracted_fields, competitions, impossible_competitions],
        resources={"postgres": postgres, "object_store": local_store,
                   "ai": AiResource(extraction_provider="rules")},
        selection=[competitions],
    )
    check = result.get_asset_check_evaluations()[0]
    assert not check.passed
    assert check.metadata["impossible_records"].value == 1
    assert "deadline before registration opens" in check.metadata["examples"].value


@pytest.mark.parametrize("failure,rows,status", [
    ("429_then_ok", [("zhipu", "text", "rate_limited"), ("zhipu", "text", "ok")], "done"),
    ("timeout", [("zhipu", "text", "timeout")] * 2, "failed"),
    ("invalid_json", [("zhipu", "text", "invalid_json")] * 2, "failed"),
])
def test_text_step_failures_land_in_the_ledger(postgres, local_store, ai, fake, failure, rows, status):
    if failure == "429_then_ok":
        fake.fail_next("/chat/completions", status=429)
    elif failure == "timeout":
        fake.fail_next("/chat/completions", hang_seconds=2.0, times=2)
    else:
        fake.queue_zhipu("maaf, saya tidak bisa", "{title: LOMBA}")
    raw_id = add_raw_item(postgres, f"https://www.instagram.com/p/TXT{failure}/")
    run(postgres, local_store, ai)
    assert attempts(postgres, raw_id) == [*rows, ("rules", "text", "ok")]
    row = competition(postgres, raw_id)
    assert row["extraction_status"] == status
    assert row["end_date"].isoformat() == "2025-01-20"  # found either way
    assert needs_extraction(postgres, raw_id) == (status == "failed")
    if status == "failed":
        assert failure in row["extraction_error"]


def test_missing_poster_object_is_an_error_naming_it(postgres, local_store, ai, fake):
    fake.queue_zhipu(json.dumps(WITHOUT_ORGANIZER))
    image_id = add_poster(postgres, local_store, data=b"poster that will vanish")
    with postgres.cursor() as cur:
        cur.execute("SELECT object_key FROM images WHERE id = %s", (image_id,))
        key = cur.fetchone()["object_key"]
    local_store.delete(key)
    raw_id = add_raw_item(postgres, "https://www.instagram.com/p/GONE1/", image_id=image_id)
    run(postgres, local_store, ai)
    row = competition(postgres, raw_id)
    assert row["extraction_status"] == "failed" and key in row["extraction_error"]
    assert row["title"] == "LOMBA ESAI NASIONAL 2025"  # the text step's work is kept
    assert fake.calls_to("/v1/ocr") == []


def test_a_second_drain_leaves_an_item_another_drain_holds_until_its_lease_runs_out(
    postgres, local_store, ai, fake
):
    from lomba_pipeline.catalog.extraction.claims import claim_next
    from lomba_pipeline.resources.ai import RetryPolicy

    raw_id = add_raw_item(postgres, "https://www.instagram.com/p/LOCK1/")
    with postgres.connection() as conn:  # another run's shard took it and is working on it
        (claimed,) = claim_next(conn, "other-run/1_of_1/host/1/abc", 1, RetryPolicy(),
                                dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert claimed["id"] == raw_id
    summary = run(postgres, local_store, ai)
    assert summary.busy and summary.extracted == 0 and fake.calls == []
    assert needs_extraction(postgres, raw_id)
    with postgres.cursor() as cur:  # that shard's machine went silent for longer than the lease
        cur.execute("UPDATE raw_items SET extraction_claimed_at = now() - interval '1 hour'")
    assert run(postgres, local_store, ai).extracted == 1
    assert not needs_extraction(postgres, raw_id)


def test_stored_records_get_duplicate_candidates_for_review(postgres, local_store, settings):
    """The same poster caption reposted by two sources shows up as one group in the review queue."""
    from lomba_pipeline.catalog.review.duplicates import duplicate_groups

    first = add_raw_item(postgres, "https://www.instagram.com/p/AAA111/")
    second = add_raw_item(postgres, "https://infolomba.id/event/123")
    other = add_raw_item(postgres, "https://www.instagram.com/p/BBB222/",
                         caption="Giveaway 3 buku untuk followers! Tag 3 temanmu.")
    run(postgres, local_store, AiConfig(), mode="rules")
    ids = {raw: competition(postgres, raw)["id"] for raw in (first, second, other)}
    with postgres.connection() as conn:
        groups = duplicate_groups(conn)
    assert groups == [sorted([ids[first], ids[second]])]
