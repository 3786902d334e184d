"""``config/sources.yaml`` is strict: every typo, an empty file and a non-UTF-8 file are refused
with one line naming the file and the field; fuzzed files never raise anything else."""

from __future__ import annotations

import string
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lomba_pipeline.catalog.sources.config import (
    SourcesConfig,
    SourcesConfigError,
    load_sources,
    profiles_in,
)
from lomba_pipeline.catalog.sources.items import BadLink, checked_link
from lomba_pipeline.resources.outbound import AllowListError, OutboundPolicy, OutboundRefused
from lomba_pipeline.settings import PROJECT_ROOT

INFOLOMBA = '{name: a, type: infolomba, base_url: "https://infolomba.example"'


@pytest.mark.parametrize(
    "text, field",
    [
        ("instagam: {profiles: [a]}\nweb: []\n", "instagam: Extra inputs are not permitted"),
        ("web: []\ncrawl: {desired_concurency: 3}\n", "crawl.desired_concurency: Extra inputs"),
        (f"web:\n  - {INFOLOMBA}, load_more_page: 2}}\n",
         "web.0.infolomba.load_more_page: Extra inputs are not permitted"),
        ('web:\n  - {name: b, type: blogger, base_url: "https://b.example", freshnes_days: 3}\n',
         "web.0.blogger.freshnes_days: Extra inputs are not permitted"),
        ('web:\n  - {name: g, type: generic, list_urls: ["https://g.example"], item: a,'
         ' title: b, link: c, detail: {descripton: x}}\n',
         "web.0.generic.detail.descripton: Extra inputs are not permitted"),
        ("instagram: {profiles: [a], max_post_per_profile: 3}\n",
         "instagram.max_post_per_profile: Extra inputs are not permitted"),
        ('web:\n  - {name: a, type: infolomb, base_url: "https://x.example"}\n',
         "web.0: Input tag 'infolomb' found using 'type' does not match"),
        (f"web:\n  - {INFOLOMBA}, enabled: tidak}}\n", "web.0.infolomba.enabled: Input should"),
        ("web: {name: a}\n", "web: Input should be a valid list"),
    ],
)
def test_each_typo_is_refused_naming_the_file_and_the_field(tmp_path, text, field):
    path = tmp_path / "sources.yaml"
    path.write_text(text)
    with pytest.raises(SourcesConfigError) as error:
        load_sources(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ") and field in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "the file is empty"),
        (b"# only a comment\n", "the file is empty"),
        (b"{}\n", "names no sources"),
        (b"crawl: {max_request_retries: 1}\n", "names no sources"),
        ("web: []  # kompetisi caf\xe9\n".encode("latin-1"), "not UTF-8 text (byte 24)"),
        (b"web: [\n", "not valid YAML"),
        (b"- a\n- b\n", "expected a mapping at the top level"),
    ],
)
def test_unusable_files_are_refused_in_one_line_naming_the_file(tmp_path, content, reason):
    path = tmp_path / "sources.yaml"
    path.write_bytes(content)
    with pytest.raises(SourcesConfigError) as error:
        load_sources(path)
    assert str(error.value).startswith(f"{path}: ") and reason in str(error.value)
    assert "\n" not in str(error.value)
    assert profiles_in(path) == []  # the code location still loads


def test_the_shipped_sources_files_are_valid():
    for name in ("sources.yaml", "sources.demo.yaml"):
        assert load_sources(PROJECT_ROOT / "config" / name).web


# -- fuzz -----------------------------------------------------------------------------------
KEYS = ["crawl", "web", "instagram", "name", "type", "base_url", "enabled", "profiles",
        "list_urls", "item", "title", "link", "detail", "fields", "max_pages", "infolomba",
        "blogger", "generic", "desired_concurrency", "max_concurrency", "weeb", "${X}"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
    st.text(max_size=30), st.sampled_from(["infolomba", "blogger", "generic",
                                           "https://a.example", "${UNKNOWN}", "javascript:x"]),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner,
                        max_size=5),
    ),
    max_leaves=25,
)
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def load_text(content: bytes):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sources.yaml"
        path.write_bytes(content)
        try:
            return load_sources(path, {"X": "x"})
        except SourcesConfigError as exc:
            assert str(path) in str(exc)
            return None
        finally:
            profiles_in(path)  # never raises either


@FUZZ
@given(documents)
def test_fuzzed_yaml_documents_load_or_are_refused_with_the_documented_error(document):
    result = load_text(yaml.safe_dump(document, allow_unicode=True).encode())
    assert result is None or isinstance(result, SourcesConfig)


@FUZZ
@given(st.binary(max_size=300) | st.text(alphabet=string.printable + "é[]{}:&*!|>-'\"",
                                          max_size=300).map(str.encode))
def test_fuzzed_bytes_load_or_are_refused_with_the_documented_error(content):
    result = load_text(content)
    assert result is None or isinstance(result, SourcesConfig)


links = st.one_of(
    st.text(max_size=60),
    st.builds(
        lambda scheme, host, rest: f"{scheme}{host}{rest}",
        st.sampled_from(["http://", "https://", "javascript:", "file://", "", "//", "HTTP://"]),
        st.one_of(st.sampled_from(["[::1]", "[oops", "127.0.0.1:99999", "a.example:80",
                                   "xn--bcher-kva.example", "user:pw@a.example", ""]),
                  st.text(max_size=15)),
        st.text(max_size=20),
    ),
)


@FUZZ
@given(links)
def test_fuzzed_card_links_are_accepted_or_refused_with_bad_link(link):
    try:
        accepted = checked_link(link)
    except BadLink:
        return
    assert accepted.lower().startswith(("http://", "https://"))


@FUZZ
@given(links)
@example("HTTP://XN---A")  # punycode that is not valid IDNA (found by this test)
@example("http://xn--000a..")
def test_fuzzed_urls_pass_the_policy_check_or_are_refused(link):
    try:
        OutboundPolicy().check_url(link)
    except OutboundRefused:
        pass


@FUZZ
@given(st.text(alphabet=string.printable + "[]=é", max_size=60))
def test_fuzzed_allow_lists_parse_or_are_refused_naming_the_setting(text):
    try:
        OutboundPolicy.from_setting(text)
    except AllowListError as exc:
        assert "LOMBA_FETCH_ALLOW_HOSTS" in str(exc)
