"""``/biaya-ai``: the extraction cost per day and provider, from the attempts ledger."""

from datetime import timedelta

import pytest

from lomba_pipeline_tests.review.conftest import FROZEN_NOW, PASSWORD
from lomba_pipeline_tests.review.http_client import login

pytestmark = pytest.mark.timeout(120)


def _attempt(postgres, provider, at, cost, outcome="ok", pages=None):
    with postgres.cursor() as cur:
        cur.execute(
            "INSERT INTO extraction_attempts (provider, step, outcome, prompt_tokens,"
            " completion_tokens, ocr_pages, cost_usd, created_at)"
            " VALUES (%s, 'text', %s, 1000, 100, %s, %s, %s)",
            (provider, outcome, pages, cost, at),
        )


def test_cost_page_sums_the_ledger_per_day_and_provider(admin_server, postgres, reviewer):
    today, yesterday = FROZEN_NOW, FROZEN_NOW - timedelta(days=1)
    _attempt(postgres, "zhipu", today, 0.002)
    _attempt(postgres, "zhipu", today, 0.003, outcome="rate_limited")
    _attempt(postgres, "mistral", yesterday, 0.01, pages=3)
    _attempt(postgres, "rules", today, 0)  # the offline rules cost nothing and are no AI call
    _attempt(postgres, "gemini", FROZEN_NOW - timedelta(days=40), 9.0)  # outside 14 days
    client, _ = login(admin_server.url, reviewer, PASSWORD)
    page = client.get("/biaya-ai")
    assert page.status_code == 200
    html = page.text
    assert 'id="total">US$ 0.0150<' in html
    assert "<td>2026-06-15</td><td>zhipu</td><td>2</td>\n      <td>1</td>" in html
    assert "<td>2026-06-14</td><td>mistral</td><td>1</td>" in html and "<td>3</td>" in html
    assert "rules" not in html and "gemini" not in html
    wide = client.get("/biaya-ai?hari=60").text
    assert 'id="total">US$ 9.0150<' in wide
    assert client.get("/biaya-ai?hari=100000").status_code == 400
