"""Operated accounts' content lives in the object store (R2 = moto S3 here): `lomba accounts
sync-content` uploads it once, reports what was removed, and the post lane reads it from there."""

import shutil

import pytest
from click.testing import CliRunner

from lomba_pipeline.cli import main
from lomba_pipeline.ig_ops.content_store import account_prefix, sync_content
from lomba_pipeline.ig_ops.demo import write_demo_content
from lomba_pipeline.settings import get_settings
from lomba_pipeline_tests.ig_ops.world import build_world, uid, wib

pytestmark = pytest.mark.timeout(240)


def versions(r2_store, key: str) -> int:
    client = r2_store.s3.get_client()
    listed = client.list_object_versions(Bucket=r2_store.bucket, Prefix=key)
    return len([v for v in listed.get("Versions", []) if v["Key"] == key])


@pytest.fixture
def versioned_r2(r2_store):
    """Every upload to the bucket is a new object version: re-uploads can be counted."""
    r2_store.s3.get_client().put_bucket_versioning(
        Bucket=r2_store.bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    return r2_store


def test_sync_uploads_each_file_once_and_reports_removed_ones(versioned_r2, tmp_path):
    folder = write_demo_content(tmp_path / "content", "ig_001", 3)
    (folder / "002_info_lomba.approve").touch()
    (folder / "notes.md").write_text("not content")  # ignored: not an image/caption/marker
    first = sync_content(versioned_r2, "ig_001", folder)
    assert sorted(first.uploaded) == sorted(
        [f"00{n}_info_lomba.{ext}" for n in (1, 2, 3) for ext in ("jpg", "txt")]
        + ["002_info_lomba.approve"]
    )
    prefix = account_prefix("ig_001")
    assert versioned_r2.get(prefix + "001_info_lomba.jpg") == (folder / "001_info_lomba.jpg").read_bytes()

    again = sync_content(versioned_r2, "ig_001", folder)
    assert (again.uploaded, again.removed, len(again.unchanged)) == ([], [], 7)
    assert versions(versioned_r2, prefix + "001_info_lomba.jpg") == 1  # nothing sent again

    (folder / "001_info_lomba.txt").write_text("Caption baru", encoding="utf-8")
    for name in ("003_info_lomba.jpg", "003_info_lomba.txt"):
        (folder / name).unlink()
    third = sync_content(versioned_r2, "ig_001", folder)
    assert third.uploaded == ["001_info_lomba.txt"]
    assert third.removed == ["003_info_lomba.jpg", "003_info_lomba.txt"]
    assert third.line() == (
        "ig_001: 1 uploaded, 4 unchanged, 2 removed (003_info_lomba.jpg, 003_info_lomba.txt)"
    )
    assert not versioned_r2.exists(prefix + "003_info_lomba.jpg")
    assert versioned_r2.get(prefix + "001_info_lomba.txt") == b"Caption baru"


def test_sync_warns_about_files_the_post_lane_would_refuse(local_store, tmp_path):
    folder = write_demo_content(tmp_path / "content", "ig_002", 1)
    (folder / "no_caption.jpg").write_bytes((folder / "001_info_lomba.jpg").read_bytes())
    (folder / "dua kata.jpg").write_bytes(b"x")
    report = sync_content(local_store, "ig_002", folder)
    assert any("caption file no_caption.txt is missing" in w for w in report.warnings)
    assert any("dua kata.jpg: not synced" in w for w in report.warnings)
    assert "dua kata.jpg" not in report.uploaded


def test_the_post_lane_reads_content_from_r2_not_from_the_host(
    fake, postgres, r2_store, tmp_path, monkeypatch, settings
):
    world = build_world(
        fake, postgres, r2_store, tmp_path, monkeypatch, settings, accounts=["ig_001", "ig_002"]
    )
    shutil.rmtree(world.root / "content")  # another machine: no content folder on this host
    assert world.run_post("ig_001", wib("2026-11-20 08:00")).success
    (post,) = fake.posts_of(uid("ig_001"))
    assert post.caption.startswith("Info lomba hari ini #1 dari @ig_001")
    ((target,),) = world.sql("SELECT target FROM ig_actions WHERE kind = 'post'")
    assert target["file_name"] == "001_info_lomba.jpg"
    assert target["public_url"].startswith("https://media.example.test/ig-posts/ig_001/")

    # an account whose content was never synced: a clear refusal, no post, nothing stored lost
    for key in r2_store.list(account_prefix("ig_002")):
        r2_store.delete(key)
    assert world.run_post("ig_002", wib("2026-11-20 08:02")).success
    assert fake.posts_of(uid("ig_002")) == []
    (refused,) = [d for (d,) in world.sql(
        "SELECT data FROM events WHERE kind = 'ig.content_refused'")]
    assert "ig_002: no content in the object store under ig-content/ig_002/" in refused["reason"]
    assert "lomba accounts sync-content" in refused["reason"]


def test_sync_content_command_uploads_every_account_folder_to_r2(
    postgres, s3_resource, tmp_path, monkeypatch, settings
):
    import uuid

    from lomba_pipeline.resources.object_store import object_store_from_settings

    root = tmp_path / "ig"
    for account in ("ig_001", "ig_002"):
        write_demo_content(root / "content", account, 2)
    (root / "accounts.yaml").write_text(
        "accounts:\n"
        "  - {id: ig_001, username: op.satu, content_dir: content/ig_001}\n"
        "  - {id: ig_002, username: op.dua, content_dir: content/ig_002}\n"
    )
    bucket = f"media-{uuid.uuid4().hex[:8]}"
    s3_resource.get_client().create_bucket(Bucket=bucket)
    for name, value in {
        "LOMBA_R2_ENDPOINT_URL": s3_resource.endpoint_url,
        "LOMBA_R2_ACCESS_KEY_ID": "testing", "LOMBA_R2_SECRET_ACCESS_KEY": "testing",
        "LOMBA_R2_BUCKET": bucket, "LOMBA_R2_PUBLIC_BASE_URL": "https://media.example.test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        imported = runner.invoke(main, ["accounts", "import", "--file", str(root / "accounts.yaml")])
        assert imported.exit_code == 0, imported.output
        first = runner.invoke(main, ["accounts", "sync-content", str(root / "content")])
        assert first.exit_code == 0, first.output
        assert "ig_001: 4 uploaded, 0 unchanged, 0 removed" in first.output
        assert "ig_002: 4 uploaded, 0 unchanged, 0 removed" in first.output
        (root / "content/ig_002/002_info_lomba.jpg").unlink()
        # without DIR: each account's content_dir from accounts.yaml
        second = runner.invoke(main, ["accounts", "sync-content"])
        assert "ig_001: 0 uploaded, 4 unchanged, 0 removed" in second.output
        assert "ig_002: 0 uploaded, 3 unchanged, 1 removed (002_info_lomba.jpg)" in second.output
        store = object_store_from_settings(get_settings(), for_dagster=False)
        assert len(store.list(account_prefix("ig_001"))) == 4
        shutil.rmtree(root / "content/ig_001")
        third = runner.invoke(main, ["accounts", "sync-content", str(root / "content")])
        assert third.exit_code != 0 and "no content folder for: ig_001" in third.output
        assert len(store.list(account_prefix("ig_001"))) == 4  # nothing stored is lost
    finally:
        for name in ("LOMBA_R2_ENDPOINT_URL",):
            monkeypatch.delenv(name)
        get_settings.cache_clear()
