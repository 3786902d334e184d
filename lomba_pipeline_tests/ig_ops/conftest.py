"""The fake Instagram every IG-operations test talks to (one per test: state does not leak)."""

import time
import types

import pytest

from lomba_pipeline_tests.fakes.fake_ig_ops import FakeIgOps
from lomba_pipeline_tests.ig_ops.world import build_world


@pytest.fixture
def fake():
    with FakeIgOps() as f:
        yield f


@pytest.fixture
def world(fake, postgres, local_store, tmp_path, monkeypatch, settings):
    """One imported account, ig_001 (a module that needs more defines its own ``world``)."""
    return build_world(
        fake, postgres, local_store, tmp_path, monkeypatch, settings, accounts=["ig_001"]
    )


@pytest.fixture(autouse=True)
def short_upload_settle_wait(monkeypatch):
    """instagrapi sleeps 3 s between uploading a photo and configuring it (real Instagram needs
    time to process the upload; the fake processes at once). Shortened to 0.3 s so the post tests
    and the 50 crash trials keep the same order of steps at a tenth of the wait; the SDK's code
    path is unchanged and forked run processes inherit the shortened wait."""
    import instagrapi.mixins.photo as photo

    shim = types.SimpleNamespace(**{k: getattr(time, k) for k in dir(time)
                                    if not k.startswith("__")})
    shim.sleep = lambda seconds: time.sleep(min(seconds, 0.3))
    monkeypatch.setattr(photo, "time", shim)
