"""Lane B: content mapping, poster variant, publish (instagrapi and Graph API), once per day."""

import io

import pytest
from PIL import Image

from lomba_pipeline.ig_ops.content import ContentError, load_item, next_item
from lomba_pipeline.ig_ops.store import decide_approval, list_pending_approvals
from lomba_pipeline_tests.ig_ops.world import build_world, uid, wib

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def world(fake, postgres, local_store, tmp_path, monkeypatch, settings):
    return build_world(
        fake,
        postgres,
        local_store,
        tmp_path,
        monkeypatch,
        settings,
        accounts=["ig_001", "ig_002"],
        new_accounts=("ig_002",),
    )


def test_posts_the_next_file_as_a_variant_once_per_day(world, fake, local_store):
    first = world.run_post("ig_001", wib("2026-11-20 08:00"))
    assert first.success
    (meta,) = [
        e.event_specific_data.metadata
        for e in first.all_events
        if e.event_type_value == "STEP_OUTPUT"
    ]
    assert (meta["status"].value, meta["file"].value) == ("done", "001_info_lomba.jpg")
    (post,) = fake.posts_of(uid("ig_001"))
    assert post.caption.startswith("Info lomba hari ini #1 dari @ig_001!")
    (row,) = world.sql(
        "SELECT status, target->>'file_name', target->>'object_key' FROM ig_actions"
        " WHERE kind = 'post'"
    )
    assert row[:2] == ("done", "001_info_lomba.jpg")
    stored = local_store.get(row[2])
    original = (world.root / "content/ig_001/001_info_lomba.jpg").read_bytes()
    assert stored != original  # the variant, not the original bytes
    assert Image.open(io.BytesIO(stored)).format == "JPEG"

    # a retried run of the same day posts nothing more
    again = world.run_post("ig_001", wib("2026-11-20 08:05"))
    assert again.success
    assert len(fake.posts_of(uid("ig_001"))) == 1
    assert len(fake.calls_to("/media/configure/")) == 1

    # the next day takes the next file, never the first again
    assert world.run_post("ig_001", wib("2026-11-21 08:00")).success
    captions = [p.caption for p in fake.posts_of(uid("ig_001"))]
    assert [c.split(" dari")[0] for c in captions] == [
        "Info lomba hari ini #1",
        "Info lomba hari ini #2",
    ]


def test_first_post_of_a_new_account_waits_for_approval_then_goes_on_the_next_tick(world, fake):
    assert world.run_post("ig_002", wib("2026-11-20 08:02")).success
    assert fake.posts_of(uid("ig_002")) == []
    (pending,) = [a for a in list_pending_approvals_conn(world)]
    assert (pending["reason"], pending["kind"]) == ("first_post", "post")
    with world.postgres.connection() as conn:
        decide_approval(conn, pending["id"], True, "admin")
    assert world.run_reply("ig_002", wib("2026-11-20 08:03")).success
    assert len(fake.posts_of(uid("ig_002"))) == 1


def list_pending_approvals_conn(world):
    with world.postgres.connection() as conn:
        return list_pending_approvals(conn)


def test_graph_api_publisher_container_poll_publish(world, fake, postgres, settings, monkeypatch):
    # ig_001 gets Graph API credentials: publishing goes container → status → media_publish
    from lomba_pipeline.ig_ops.accounts import import_accounts
    from lomba_pipeline.secrets_box import secret_box_from_settings

    text = (world.root / "accounts.yaml").read_text()
    text = text.replace(
        "sessionid_env: LOMBA_IG_TEST_IG_001_SESSIONID",
        "sessionid_env: LOMBA_IG_TEST_IG_001_SESSIONID\n    graph_access_token_env: LOMBA_IG_TEST_G_TOKEN"
        "\n    graph_user_id_env: LOMBA_IG_TEST_G_UID",
    )
    (world.root / "accounts.yaml").write_text(text)
    fake.graph_now = wib("2026-11-20 08:00")
    token = fake.issue_graph_token(uid("ig_001"), wib("2026-11-15 08:00"))
    monkeypatch.setenv("LOMBA_IG_TEST_G_TOKEN", token)
    monkeypatch.setenv("LOMBA_IG_TEST_G_UID", uid("ig_001"))
    with postgres.connection() as conn:
        import_accounts(conn, secret_box_from_settings(settings), world.root / "accounts.yaml")
    assert world.run_post("ig_001", wib("2026-11-20 08:00")).success
    (post,) = fake.posts_of(uid("ig_001"))
    assert post.via == "graph"
    assert post.image_url.startswith(world.object_store.public_base_url)
    assert [c.path for c in fake.calls if c.path.startswith("/graph")][:2] == [
        f"/graph/{uid('ig_001')}/media",
        f"/graph/{next(iter(fake.containers))}",
    ]
    assert fake.calls_to("/media_publish")
    assert not fake.calls_to("/media/configure/")
    # the token is encrypted at rest
    (raw,) = world.sql("SELECT encrypted_credentials FROM ig_accounts WHERE account_id = 'ig_001'")
    assert token.encode() not in bytes(raw[0])


def test_unusable_content_is_refused_with_a_clear_message(tmp_path, postgres, world):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "a_no_caption.jpg").write_bytes(
        (world.root / "content/ig_001/001_info_lomba.jpg").read_bytes()
    )
    (folder / "b_fake.png").write_bytes(b"this is not an image")
    (folder / "b_fake.txt").write_text("caption")
    (folder / "c_ok.jpg").write_bytes(
        (world.root / "content/ig_001/002_info_lomba.jpg").read_bytes()
    )
    (folder / "c_ok.txt").write_text("Caption ok")
    (tmp_path / "outside.jpg").write_bytes(b"x")
    with pytest.raises(ContentError, match="caption file a_no_caption.txt is missing"):
        load_item(folder, "a_no_caption.jpg")
    with pytest.raises(ContentError, match="b_fake.png"):
        load_item(folder, "b_fake.png")
    with pytest.raises(ContentError, match="outside the content folder"):
        load_item(folder, "../outside.jpg")
    with pytest.raises(ContentError, match="not an image file"):
        load_item(folder, "b_fake.txt")
    with postgres.connection() as conn:
        item, refused = next_item(conn, "ig_001", folder)
    assert item.file_name == "c_ok.jpg" and item.caption == "Caption ok"
    assert len(refused) == 2


def test_graph_api_errors_name_the_account_and_step(fake):
    from lomba_pipeline.resources.instagram_ops import GraphApiPublisher, InstagramCallFailed

    fake.graph_now = wib("2026-11-20 08:00")
    token = fake.issue_graph_token("1009", wib("2026-11-15 08:00"))
    publisher = GraphApiPublisher("ig_009", fake.url + "/graph", "1009", token, poll_seconds=0)
    fake.fail_next(
        "/media_publish",
        status=400,
        body={"error": {"message": "Media ID is not available", "code": 9007}},
    )
    with pytest.raises(
        InstagramCallFailed, match="ig_009: graph_publish failed: HTTP 400: Media ID"
    ):
        publisher.publish(b"x", "https://media.example.test/p.jpg", "Caption")
    fake.fail_next("/graph/", status=500, raw=f"<html>oops, bad token {token}</html>".encode())
    with pytest.raises(InstagramCallFailed, match="graph_container failed: HTTP 500") as err:
        publisher.publish(b"x", "https://media.example.test/p.jpg", "Caption")
    assert token not in str(err.value) and "***" in str(err.value)
    assert publisher.find_post("Caption") is None
    publisher.publish(b"x", "https://media.example.test/p.jpg", "Caption")
    assert publisher.find_post("Caption") is not None


def test_a_post_marked_for_approval_waits_and_a_rejected_one_is_never_posted(world, fake):
    (world.root / "content/ig_001/001_info_lomba.approve").touch()
    world.sync_content()
    assert world.run_post("ig_001", wib("2026-11-20 08:00")).success
    assert fake.posts_of(uid("ig_001")) == []
    (pending,) = list_pending_approvals_conn(world)
    assert pending["reason"] == "post_marked"
    assert pending["target"]["public_url"].startswith("https://media.example.test/ig-posts/ig_001/")
    with world.postgres.connection() as conn:
        decide_approval(conn, pending["id"], False, "admin")
    assert world.run_reply("ig_001", wib("2026-11-20 08:10")).success
    assert world.run_post("ig_001", wib("2026-11-20 08:11")).success  # a retry of the day
    assert fake.posts_of(uid("ig_001")) == []
    # the rejected file stays taken; the next day moves on to the next file
    assert world.run_post("ig_001", wib("2026-11-21 08:00")).success
    (post,) = fake.posts_of(uid("ig_001"))
    assert post.caption.startswith("Info lomba hari ini #2")
