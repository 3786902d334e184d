"""Specs with rollback, approvals and accounts through the `lomba` CLI, against the fake."""

import pytest
from click.testing import CliRunner

from lomba_pipeline.cli import main
from lomba_pipeline.ig_ops.compose import compose
from lomba_pipeline.ig_ops.spec import LaneSpec, ReplyRule
from lomba_pipeline.ig_ops.store import list_pending_approvals
from lomba_pipeline.settings import get_settings
from lomba_pipeline_tests.ig_ops.world import SPEC_FILE, uid, wib

pytestmark = pytest.mark.timeout(120)


def lomba(*args) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_rollback_of_a_spec_changes_the_replies_of_the_next_tick(world, fake, tmp_path):
    # build_world applied the config spec as version 1
    v2 = tmp_path / "v2.yaml"
    v2.write_text(
        SPEC_FILE.read_text().replace(
            'comment_default: "Terima kasih @{username}! Info lengkapnya cek link di bio ya."',
            'comment_default: "Makasih @{username}, follow untuk info lomba lainnya!"',
        )
    )
    assert "spec version 2 is active" in lomba("spec", "apply", str(v2))
    first = world.comment("ig_001", "Keren")
    assert world.run_reply("ig_001", wib("2026-11-20 10:00")).success
    assert [r.text for r in fake.replies_to(first)] == [
        "Makasih @siswa_a, follow untuk info lomba lainnya!"
    ]

    assert "spec version 1 is active" in lomba("spec", "rollback", "1")
    history = lomba("spec", "history")
    assert history.splitlines()[0].startswith("  v2") and "* v1" in history
    second = world.comment("ig_001", "Keren juga", who="budi", who_pk=777)
    assert world.run_reply("ig_001", wib("2026-11-20 10:01")).success
    assert [r.text for r in fake.replies_to(second)] == [
        "Terima kasih @budi! Info lengkapnya cek link di bio ya."
    ]
    kinds = [
        k for (k,) in world.sql("SELECT kind FROM events WHERE kind LIKE 'ig.spec%' ORDER BY id")
    ]
    assert kinds == ["ig.spec_applied", "ig.spec_applied", "ig.spec_rolled_back"]


def test_invalid_spec_is_refused_and_the_active_one_stays(world, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("failure_threshold: 0\n")
    result = CliRunner().invoke(main, ["spec", "apply", str(bad)])
    assert result.exit_code != 0 and "failure_threshold" in result.output
    assert world.sql("SELECT version FROM job_specs WHERE active") == [(1,)]


def test_approvals_cli_approve_sends_on_next_tick_reject_never(world, fake):
    t1 = world.dm("ig_001", "Mau kerja sama endorse kak")
    t2 = world.dm("ig_001", "Ada sponsor untuk lomba?", who="citra", who_pk=778)
    assert world.run_reply("ig_001", wib("2026-11-20 10:00")).success
    assert fake.sent_in(t1) == [] and fake.sent_in(t2) == []
    listing = lomba("approvals", "list")
    assert listing.count("dm_sensitive_word") == 2
    with world.postgres.connection() as conn:
        # the inbox lists the newest thread first: find each approval by its thread
        by_thread = {a["target"]["thread_id"]: a["id"] for a in list_pending_approvals(conn)}
    ids = [by_thread[t1], by_thread[t2]]
    assert sorted(ids) == sorted(int(line.split()[0].lstrip("#")) for line in listing.splitlines())
    assert "approved" in lomba("approvals", "approve", str(ids[0]))
    assert "rejected" in lomba("approvals", "reject", str(ids[1]))
    again = CliRunner().invoke(main, ["approvals", "approve", str(ids[1])])
    assert again.exit_code != 0 and "already rejected" in again.output
    assert world.run_reply("ig_001", wib("2026-11-20 10:01")).success
    assert len(fake.sent_in(t1)) == 1 and fake.sent_in(t2) == []
    assert "nothing waits" in lomba("approvals", "list")
    decided = world.sql(
        "SELECT kind, actor FROM events WHERE kind LIKE 'ig.approval_%ed' ORDER BY id"
    )
    assert [k for k, _ in decided] == [
        "ig.approval_requested",
        "ig.approval_requested",
        "ig.approval_approved",
        "ig.approval_rejected",
    ]
    assert decided[-1][1].startswith("cli:")


def test_accounts_import_and_login_keep_secrets_encrypted(fake, postgres, tmp_path, monkeypatch):
    sessionid = f"{uid('ig_003')}%3AZzYyXxWwVvUuTtSs%3A12%3AAYsecret"
    (tmp_path / "c").mkdir()
    (tmp_path / "accounts.yaml").write_text(
        "accounts:\n  - id: ig_003\n    username: op.three\n    content_dir: c\n"
        "    credentials: {sessionid_env: LOMBA_IG_MY_SID, password_env: LOMBA_IG_MY_PW}\n"
    )
    monkeypatch.setenv("LOMBA_IG_MY_SID", sessionid)
    monkeypatch.setenv("LOMBA_IG_API_BASE_URL", fake.url)
    monkeypatch.setenv("LOMBA_IG_REQUEST_DELAY_SECONDS", "0")
    get_settings.cache_clear()
    try:
        out = lomba("accounts", "import", "--file", str(tmp_path / "accounts.yaml"))
        assert "ig_003: secrets sessionid  (env not set: password)" in out
        fake.add_user(uid("ig_003"), "op.three")
        assert f"logged in as user {uid('ig_003')}" in lomba("accounts", "login", "ig_003")
        assert "ig_003  op.three" in lomba("accounts", "list")
    finally:
        monkeypatch.delenv("LOMBA_IG_API_BASE_URL")
        get_settings.cache_clear()
    with postgres.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT credential_env::text, encrypted_credentials FROM ig_accounts")
        env_names, token = cur.fetchone()
        cur.execute("SELECT encrypted_settings FROM ig_sessions WHERE username = 'op.three'")
        (session,) = cur.fetchone()
        cur.execute("SELECT data::text FROM events")
        events = " ".join(r[0] for r in cur.fetchall())
    assert "LOMBA_IG_MY_SID" in env_names
    for blob in (bytes(token), bytes(session), events.encode()):
        assert b"ZzYyXxWwVvUuTtSs" not in blob
    bad = CliRunner().invoke(main, ["accounts", "login", "ig_404"])
    assert bad.exit_code != 0 and "unknown account 'ig_404'" in bad.output


def test_composer_never_lets_incoming_text_into_templates():
    spec = LaneSpec(
        comment_rules=[ReplyRule(name="r", keywords=["daftar"], template="Hai @{username}!")]
    )
    hostile = compose(
        spec, kind="comment", incoming="daftar {username} {0.__class__}", username="evil<script>{x}"
    )
    assert hostile.text == "Hai @evilscriptx!"
    assert compose(spec, kind="comment", incoming="tanpa kata kunci", username="a") is None


def test_llm_drafts_wait_for_approval():
    class Drafter:
        def draft(self, *, kind, incoming, username):
            return f"Halo {username}, terima kasih!"

    spec = LaneSpec(llm_drafts=True)
    composed = compose(spec, kind="dm", incoming="pertanyaan aneh", username="x", drafter=Drafter())
    assert (composed.source, composed.approval_reason) == ("llm", "llm_draft")
