"""The chaos bench in small: ``lomba run`` SIGKILLed while posters are being uploaded to R2
(moto), then run again, leaves every listing stored once, every record extracted, and no object
in the bucket that no row references. The full suite (all kinds, 50+ trials) is
``make chaos``; this keeps its machinery honest in ``make test``.
"""

import argparse

import pytest

from bench.chaos import Suite


@pytest.mark.timeout(150)
def test_kill_during_poster_upload_then_recovery_loses_and_duplicates_nothing(
    test_environment, tmp_path, monkeypatch
):
    from lomba_pipeline.settings import get_settings

    # the suite points LOMBA_HOME at its own folder; put ours back afterwards
    monkeypatch.setenv("LOMBA_HOME", str(tmp_path))
    args = argparse.Namespace(seed=4, listings=4, ai_latency=0.05)
    suite = Suite(args)
    try:
        suite.baseline_catalog()
        trials = [suite.catalog_trial("poster") for _ in range(2)]
    finally:
        suite.close()
        get_settings.cache_clear()
    for trial in trials:
        assert not [n for n in trial.notes if n.startswith("recovery")], trial.notes
        assert trial.verdict.findings == [], trial.verdict.findings
        assert (trial.verdict.duplicates, trial.verdict.lost, trial.verdict.orphans) == (0, 0, 0)
    # at least one kill hit a run still in progress (the pass goes on after the posters)
    assert any("run had finished" not in " ".join(t.notes) for t in trials)
