"""Extraction starts by itself in Dagster once scraped items are ready."""

import dagster as dg

from lomba_pipeline.catalog.extraction.automation import extraction_queue_sensor


def add_item(postgres, url, image_url=None):
    with postgres.cursor() as cur:
        cur.execute(
            "INSERT INTO raw_items (source_kind, source_name, canonical_url, caption, image_url)"
            " VALUES ('web', 'test', %s, 'Lomba Esai Nasional 2026', %s) RETURNING id",
            (url, image_url),
        )
        return cur.fetchone()["id"]


def tick(postgres, cursor=None):
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(instance=instance, cursor=cursor,
                                      resources={"postgres": postgres})
        return extraction_queue_sensor(ctx)


def test_sensor_waits_for_posters_then_requests_one_run(postgres):
    assert isinstance(tick(postgres), dg.SkipReason)
    item = add_item(postgres, "https://a.test/1", image_url="https://a.test/poster.jpg")
    assert isinstance(tick(postgres), dg.SkipReason)  # poster not stored yet: OCR may need it
    with postgres.cursor() as cur:
        cur.execute("UPDATE raw_items SET image_error = 'not an image' WHERE id = %s", (item,))
    result = tick(postgres)
    assert [r.run_key for r in result.run_requests] == [f"extract-upto-{item}"]
    assert result.cursor == str(item)
    assert isinstance(tick(postgres, cursor=result.cursor), dg.SkipReason)  # nothing new
    newer = add_item(postgres, "https://a.test/2")
    assert [r.run_key for r in tick(postgres, result.cursor).run_requests] == [f"extract-upto-{newer}"]
