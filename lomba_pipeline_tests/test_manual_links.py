"""Manual Instagram links: validation, the ``lomba links add`` command, the sensor, the asset."""

from datetime import UTC, datetime

import dagster as dg
import pytest

from lomba_pipeline.catalog.ingestion.automation import manual_link_sensor
from lomba_pipeline.catalog.ingestion.links import InvalidLink, canonical_link, submit_link
from lomba_pipeline.partitions import link_partition_key, manual_links
from lomba_pipeline_tests.fakes.fake_instagram import FakeInstagram, FakePost
from lomba_pipeline_tests.test_cli import lomba


@pytest.mark.parametrize(
    "url",
    [
        "https://www.instagram.com/p/DSlsNe5E5iO/",
        "https://instagram.com/p/DSlsNe5E5iO?igsh=MWQ1ZGUxMzBkMA==",
        "instagram.com/reel/DSlsNe5E5iO/",
        "https://m.instagram.com/infolomba.indonesia.id/p/DSlsNe5E5iO/#x",
    ],
)
def test_instagram_post_urls_canonicalise_to_the_shortcode(url):
    link = canonical_link(url)
    assert link.canonical == "https://www.instagram.com/p/DSlsNe5E5iO/"
    assert link.partition_key == link_partition_key(link.canonical)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "tautan kosong"),
        ("https://infolomba.id/info-x-1", "bukan tautan Instagram (host infolomba.id)"),
        ("https://www.instagram.com/infolomba.indonesia.id/", "bukan tautan satu postingan"),
        ("ftp://instagram.com/p/DSlsNe5E5iO/", "hanya tautan http(s)"),
        ("https://www.instagram.com/p/DSl sNe5E5iO/", "bukan satu tautan"),
        ("https://evil.example/instagram.com/p/DSlsNe5E5iO/", "bukan tautan Instagram"),
    ],
)
def test_invalid_links_are_rejected_with_a_reason(url, reason):
    with pytest.raises(InvalidLink, match=reason.replace("(", r"\(").replace(")", r"\)")):
        canonical_link(url)


def test_links_add_command_stores_valid_links_once_and_rejects_the_rest(postgres):
    out = lomba(
        "links",
        "add",
        "https://www.instagram.com/p/DSlsNe5E5iO/?igsh=abc",
        "https://instagram.com/reel/DSlsNe5E5iO",
        "https://kabarlomba.com/lomba-x",
    )
    assert out.returncode == 1  # one link was rejected
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("added: https://www.instagram.com/p/DSlsNe5E5iO/")
    assert lines[1].startswith("already submitted (status new)")
    assert "rejected: 'https://kabarlomba.com/lomba-x': bukan tautan Instagram" in out.stderr
    with postgres.cursor() as cur:
        cur.execute("SELECT url, canonical_url, partition_key, submitted_by FROM manual_links")
        stored = cur.fetchall()
    assert len(stored) == 1
    assert stored[0]["partition_key"] == link_partition_key(stored[0]["canonical_url"])


def test_sensor_adds_partitions_requests_one_run_per_link_and_advances_its_cursor(postgres):
    with postgres.connection() as conn:
        first = submit_link(conn, "https://www.instagram.com/p/AAAAAAAAAAA/")
        second = submit_link(conn, "https://www.instagram.com/p/BBBBBBBBBBB/")
        again = submit_link(conn, "instagram.com/reel/AAAAAAAAAAA?igsh=zz")  # same post
    assert again.id == first.id and not again.created
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"postgres": postgres})
        result = manual_link_sensor(context)
        assert [r.partition_key for r in result.run_requests] == [
            first.partition_key,
            second.partition_key,
        ]
        assert len({r.run_key for r in result.run_requests}) == 2
        (add,) = result.dynamic_partitions_requests
        assert sorted(add.partition_keys) == sorted([first.partition_key, second.partition_key])
        assert result.cursor == str(second.id)
        instance.add_dynamic_partitions(manual_links.name, list(add.partition_keys))

        # nothing new: the cursor stops the sensor from asking again
        context = dg.build_sensor_context(
            instance=instance, cursor=result.cursor, resources={"postgres": postgres}
        )
        assert isinstance(manual_link_sensor(context), dg.SkipReason)

        with postgres.connection() as conn:
            third = submit_link(conn, "https://www.instagram.com/p/CCCCCCCCCCC/")
            submit_link(conn, "https://www.instagram.com/p/BBBBBBBBBBB/")  # duplicate
        context = dg.build_sensor_context(
            instance=instance, cursor=result.cursor, resources={"postgres": postgres}
        )
        later = manual_link_sensor(context)
        assert [r.partition_key for r in later.run_requests] == [third.partition_key]
        assert list(later.dynamic_partitions_requests[0].partition_keys) == [third.partition_key]
        assert later.cursor == str(third.id)


def test_manual_link_partition_stores_the_post_once(postgres, local_store, encryption_key):
    from lomba_pipeline.catalog.ingestion.assets import manual_link_posts
    from lomba_pipeline.resources.instagram import InstagramReader

    post = FakePost(3_900_000_000_000_000_001, "LOMBA MANUAL [SINTETIS]", datetime.now(UTC))
    with FakeInstagram() as fake:
        fake.add_profile("pengirim.lomba", [post])
        with postgres.connection() as conn:
            link = submit_link(conn, f"https://www.instagram.com/p/{post.shortcode}/?igsh=1")
        reader = InstagramReader(
            scraper_username="scraper",
            scraper_sessionid="77%3AFakeSessionForTests%3A12%3AAYfake",
            api_base_url=fake.url,
            request_delay_seconds=0,
            encryption=encryption_key,
        )
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions(manual_links.name, [link.partition_key])
            for _ in range(2):
                result = dg.materialize(
                    [manual_link_posts],
                    partition_key=link.partition_key,
                    instance=instance,
                    resources={"postgres": postgres, "instagram": reader},
                )
                assert result.success
    with postgres.cursor() as cur:
        cur.execute("SELECT source_kind, source_name, canonical_url, caption FROM raw_items")
        items = cur.fetchall()
        cur.execute("SELECT status, raw_item_id FROM manual_links")
        status = cur.fetchone()
    assert len(items) == 1
    assert items[0]["source_kind"] == "manual" and items[0]["caption"] == post.caption
    assert items[0]["canonical_url"] == f"https://www.instagram.com/p/{post.shortcode}/"
    assert status["status"] == "done" and status["raw_item_id"] is not None


# -- fuzz: the validator never raises anything but InvalidLink ------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

link_like = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda scheme, host, path: f"{scheme}{host}{path}",
        st.sampled_from(["https://", "http://", "ftp://", "", "//", "javascript:", "HTTPS://"]),
        st.sampled_from(["www.instagram.com", "instagram.com", "m.instagram.com", "instagr.am",
                         "[instagram.com", "instagram.com:99999", "evil.example", "", "[::1]"]),
        st.one_of(
            st.sampled_from(["/p/DSlsNe5E5iO/", "/reel/DSlsNe5E5iO", "/a.b/p/DSlsNe5E5iO/",
                             "/stories/x/1/", "/p/", "/p/\x00abcde/"]),
            st.text(max_size=40),
        ),
    ),
)


@settings(max_examples=300, deadline=None)
@given(link_like)
def test_fuzzed_links_are_accepted_as_one_post_or_refused_with_a_reason(text):
    try:
        link = canonical_link(text)
    except InvalidLink as exc:
        assert str(exc)  # the person sees why
        return
    assert link.canonical == f"https://www.instagram.com/p/{link.shortcode}/"
    assert "\x00" not in link.submitted and link.partition_key
