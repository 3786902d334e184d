"""The fake-server base behaves as the tests built on it assume (recording, failures, timeouts)."""

import httpx
import pytest

from lomba_pipeline_tests.fakes.http_fake import HttpFake, route


class EchoFake(HttpFake):
    @route("GET", r"/items/(\d+)")
    def item(self, call, item_id):
        return 200, {"id": int(item_id), "q": call.query.get("q")}


def test_routes_record_and_fail_on_request():
    with EchoFake() as fake:
        assert httpx.get(f"{fake.url}/items/7?q=x").json() == {"id": 7, "q": "x"}
        fake.fail_next("/items/", status=429, body={"error": "slow down"}, times=2)
        assert httpx.get(f"{fake.url}/items/1").status_code == 429
        assert httpx.get(f"{fake.url}/items/1").status_code == 429
        assert httpx.get(f"{fake.url}/items/1").status_code == 200
        fake.fail_next("/items/", status=200, raw=b"{not json")
        assert httpx.get(f"{fake.url}/items/1").text == "{not json"
        fake.fail_next("/items/", hang_seconds=2)
        with pytest.raises(httpx.TimeoutException):
            httpx.get(f"{fake.url}/items/1", timeout=0.3)
        assert httpx.get(f"{fake.url}/nothing").status_code == 404
        assert len(fake.calls_to("/items/", "GET")) == 6
