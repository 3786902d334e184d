"""``lomba extract``: one caption in, the record out as JSON."""

import json

import pytest
from click.testing import CliRunner
from PIL import Image

from lomba_pipeline.cli import main
from lomba_pipeline.settings import get_settings
from lomba_pipeline_tests.fakes.ai_providers import FakeAiProviders

DINACOM = (
    "🚀 DINACOM 11.0 IS BACK!\n👩‍🎓 Kategori High School & College Student\n"
    "• Regist Batch 1: 24 Nov – 20 Des 2025\n• Regist Batch 2: 20 Des 2025 -13 Jan 2026\n"
    "💰 HTM: 50.005 (Batch 1) | 75.005 (Batch 2)\n📌 Daftar di: dinacom.dnccudinus.org"
)


def test_rules_record_from_stdin_as_json():
    result = CliRunner().invoke(main, ["extract", "--posted-at", "2025-12-23", "-"], input=DINACOM)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["title"] == "DINACOM 11.0"
    assert (record["start_date"], record["end_date"]) == ("2025-11-24", "2026-01-13")
    assert record["levels"] == ["SMA", "Mahasiswa"]
    assert record["fee_waves"][1] == {"label": "Batch 2", "amount": 75005,
                                      "start_date": None, "end_date": None}
    assert record["registration_url"] == "https://dinacom.dnccudinus.org"
    assert record["extracted_from"]["end_date"] == "rules"


def test_missing_file_is_named_in_the_error(tmp_path):
    result = CliRunner().invoke(main, ["extract", str(tmp_path / "nope.txt")])
    assert result.exit_code != 0
    assert "nope.txt" in result.output


@pytest.mark.timeout(60)
def test_gemini_provider_reads_the_poster(tmp_path, monkeypatch):
    poster = tmp_path / "poster.png"
    Image.new("RGB", (40, 60), "white").save(poster)
    caption = tmp_path / "caption.txt"
    caption.write_text("Lomba poster, info di gambar", encoding="utf-8")
    with FakeAiProviders() as fake:
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(
                main, ["extract", "--provider", "gemini", "--image", str(poster), str(caption)]
            )
        finally:
            monkeypatch.undo()
            get_settings.cache_clear()
        assert result.exit_code == 0, result.output
        record = json.loads(result.stdout)
        assert record["organizer"] == "BEM FH UI"
        assert record["extracted_from"]["organizer"] == "gemini"
        sent = fake.calls_to("generateContent")[0].json()["contents"][0]["parts"][0]
        assert (sent.get("inlineData") or sent["inline_data"])["mime_type"] == "image/png"
        assert fake.calls_to("/chat/completions") == []  # gemini only: no text provider


def test_invalid_image_is_refused_with_its_name(tmp_path):
    bad = tmp_path / "poster.png"
    bad.write_bytes(b"not an image at all")
    result = CliRunner().invoke(main, ["extract", "--provider", "gemini", "--image", str(bad), "-"],
                                input="x")
    assert result.exit_code != 0
    assert "poster.png" in result.output
