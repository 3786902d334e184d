"""The fake Instagram every IG-operations test talks to (one per test: state does not leak)."""

import pytest

from lomba_pipeline_tests.fakes.fake_ig_ops import FakeIgOps


@pytest.fixture
def fake():
    with FakeIgOps() as f:
        yield f
