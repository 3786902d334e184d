"""Strict IG config: every typo in ig_spec.yaml or accounts.yaml is refused with the file and
the field named, and nothing already stored is lost."""

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from lomba_pipeline.cli import main
from lomba_pipeline.ig_ops.accounts import (
    AccountsConfigError,
    import_accounts,
    list_accounts,
)
from lomba_pipeline.ig_ops.spec import SpecError, load_spec_file, parse_spec
from lomba_pipeline.secrets_box import secret_box_from_settings
from lomba_pipeline_tests.ig_ops.world import SPEC_FILE

pytestmark = pytest.mark.timeout(120)

ACCOUNT = """accounts:
  - id: ig_001
    username: op.one
    content_dir: content/ig_001
    credentials: {sessionid_env: LOMBA_IG_001_SESSIONID}
"""


def write(tmp_path, name: str, text: str | bytes):
    path = tmp_path / name
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (SPEC_FILE.read_text().replace("comment_rules:", "coment_rules:"), "coment_rules"),
        (SPEC_FILE.read_text().replace("replies_per_hour:", "replies_per_hr:"),
         "budget.replies_per_hr"),
        (SPEC_FILE.read_text().replace("    keywords: [biaya", "    keyword: [biaya"),
         "comment_rules.1.keyword"),
        (SPEC_FILE.read_text().replace("cooldown_steps_minutes: [15, 60, 360]",
                                       "cooldown_steps_minutes: [60, 15]"),
         "cooldown_steps_minutes"),
    ],
)
def test_a_misspelled_or_wrong_spec_key_is_refused_naming_file_and_field(tmp_path, text, field):
    path = write(tmp_path, "ig_spec.yaml", text)
    with pytest.raises(SpecError) as err:
        load_spec_file(path)
    message = str(err.value)
    assert message.startswith(str(path)) and f"{field}:" in message
    assert "\n" not in message


def test_an_empty_spec_or_one_without_reply_rules_is_refused(tmp_path):
    with pytest.raises(SpecError, match="ig_spec.yaml: the file is empty"):
        load_spec_file(write(tmp_path, "ig_spec.yaml", "# nothing yet\n"))
    with pytest.raises(SpecError, match="no reply rules"):
        parse_spec("post_hour: 9\n", "x.yaml")


def test_a_non_utf8_config_file_is_one_line_naming_the_file(tmp_path, postgres, settings):
    spec = write(tmp_path, "ig_spec.yaml", "comment_default: \"Terima kasih\xa0kak\"\n".encode("latin-1"))
    with pytest.raises(SpecError) as err:
        load_spec_file(spec)
    assert str(err.value).startswith(f"{spec}: not UTF-8") and "\n" not in str(err.value)
    accounts = write(tmp_path, "accounts.yaml", ACCOUNT.replace("op.one", "op.\xe9").encode("latin-1"))
    with pytest.raises(AccountsConfigError, match="accounts.yaml: not UTF-8"):
        with postgres.connection() as conn:
            import_accounts(conn, secret_box_from_settings(settings), accounts)


def test_the_cli_refuses_a_spec_typo_and_keeps_the_active_version(tmp_path, postgres):
    good = write(tmp_path, "good.yaml", SPEC_FILE.read_text())
    assert CliRunner().invoke(main, ["spec", "apply", str(good)]).exit_code == 0
    bad = write(tmp_path, "bad.yaml", SPEC_FILE.read_text().replace("dm_rules:", "dm_ruless:"))
    result = CliRunner().invoke(main, ["spec", "apply", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}: dm_ruless: unknown key" in result.output and "Traceback" not in result.output
    with postgres.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT source FROM job_specs WHERE active")
        assert cur.fetchone()[0] == str(good)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("credentials: {", "flag: {enabled: false}\n    credentials: {"), "accounts.0.flag"),
        (("LOMBA_IG_001_SESSIONID", "ZHIPUAI_API_KEY"), "accounts.0.credentials.sessionid_env"),
        (("sessionid_env", "session_env"), "accounts.0.credentials.session_env"),
        (("content_dir: content/ig_001", "content_dir: ../../../../etc"),
         "accounts.0.content_dir"),
        (("content_dir: content/ig_001", "content_dir: /etc"), "accounts.0.content_dir"),
        (("accounts:", "acounts:"), "acounts"),
    ],
)
def test_each_accounts_typo_is_refused_and_nothing_stored_changes(
    tmp_path, postgres, settings, change, field
):
    box = secret_box_from_settings(settings)
    good = write(tmp_path, "accounts.yaml", ACCOUNT)
    with postgres.connection() as conn:
        import_accounts(conn, box, good)
    bad = write(tmp_path, "accounts.yaml", ACCOUNT.replace(*change).replace("op.one", "op.two"))
    with pytest.raises(AccountsConfigError) as err:
        with postgres.connection() as conn:
            import_accounts(conn, box, bad)
    assert str(err.value).startswith(str(bad)) and f"{field}" in str(err.value)
    with postgres.connection() as conn:
        assert [a.username for a in list_accounts(conn)] == ["op.one"]


def test_flags_enabled_false_is_honoured(tmp_path, postgres, settings):
    text = ACCOUNT + "    flags: {enabled: false}\n"
    with postgres.connection() as conn:
        import_accounts(conn, secret_box_from_settings(settings), write(tmp_path, "a.yaml", text))
        assert [a.account_id for a in list_accounts(conn)] == ["ig_001"]
        assert list_accounts(conn, enabled_only=True) == []


def test_a_broken_ig_spec_fails_the_code_location_load(tmp_path, settings):
    """The spec file comes from the config dir of the settings handed to build_definitions
    (no environment rewrite), and a misspelled field fails the load naming file and field."""
    import dataclasses
    import shutil

    from lomba_pipeline.definitions import build_definitions

    shutil.copy(settings.sources_file, tmp_path / "sources.yaml")
    write(tmp_path, "ig_spec.yaml", SPEC_FILE.read_text().replace("post_hour:", "post_hours:"))
    with pytest.raises(SpecError, match=r"ig_spec.yaml: post_hours: unknown key"):
        build_definitions(dataclasses.replace(settings, config_dir=tmp_path))


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=300), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_the_spec_loader_raises_only_spec_errors(text):
    try:
        parse_spec(text, "fuzz.yaml")
    except SpecError as exc:
        assert str(exc).startswith("fuzz.yaml: ")
