"""The fake Instagram answers the real instagrapi the way the private API does (paging, threaded
replies, error replies on any endpoint, expired sessions), so the lanes meet real behaviour."""

import pytest
from instagrapi import exceptions as ig

from lomba_pipeline.resources.instagram_client import ClientOptions, build_client

pytestmark = pytest.mark.timeout(60)

OWNER = "1001"


@pytest.fixture
def client(fake):
    fake.add_user(OWNER, "op.one")
    cl = build_client(
        ClientOptions(api_base_url=fake.url, request_delay_seconds=0, delay_range=None),
        {"authorization_data": {"ds_user_id": OWNER, "sessionid": f"{OWNER}%3Aabc%3A1"}},
    )
    return cl


def test_comments_come_in_pages_newest_first_and_replies_are_threaded(fake, client):
    fake.comment_page_size = 5
    media = fake.add_media(OWNER)
    pks = [fake.add_comment(media, 555, "siswa", f"komentar {i}") for i in range(12)]
    fake.add_comment(media, 556, "budi", "balasan")
    fake.media[media].comments[-1].replied_to = pks[0]  # a threaded reply by someone else

    seen, max_id, pages = [], "", 0
    while True:
        chunk, _min_id, max_id = client.media_comments_v1_chunk(media, "", max_id)
        pages += 1
        seen += [c.pk for c in chunk]
        if not client.last_json.get("has_more_comments"):
            break
    assert pages == 3
    assert sorted(seen, key=int) == pks  # top-level only, each once
    assert client.last_json["comment_count"] == 13  # the threaded reply counts

    client.media_comment(f"{media}_{OWNER}", "Halo!", replied_to_comment_id=int(pks[5]))
    first, _, _ = client.media_comments_v1_chunk(media)
    assert client.last_json["comment_count"] == 14 and len(first) == 5
    replies, _cursor = client.media_comment_replies_chunk(f"{media}_{OWNER}", pks[5], 10)
    assert [(r.text, r.user.pk) for r in replies] == [("Halo!", OWNER)]

    fake.delete_comment(pks[11])
    client.media_comments_v1_chunk(media)
    assert client.last_json["comment_count"] == 13


def test_inbox_is_paged_by_cursor(fake, client):
    fake.inbox_page_size = 10
    threads = {fake.add_dm(OWNER, 2000 + i, f"u{i}", f"halo {i}") for i in range(25)}
    got = client.direct_threads(amount=0)
    assert {t.id for t in got} == threads
    assert len(fake.calls_to("/direct_v2/inbox/")) == 3


@pytest.mark.parametrize(
    ("kind", "raised"),
    [
        ("401", ig.ClientUnauthorizedError),
        ("429", ig.ClientThrottledError),
        ("please_wait", ig.PleaseWaitFewMinutes),
        ("rate_limit", ig.RateLimitError),
        ("login_required", ig.LoginRequired),
        ("challenge_required", ig.ChallengeRequired),
        ("masked_challenge", ig.ChallengeRequired),
        ("feedback_required", ig.FeedbackRequired),
    ],
)
def test_each_error_reply_reaches_instagrapi_as_its_exception_on_any_endpoint(
    fake, client, kind, raised
):
    media = fake.add_media(OWNER)
    fake.inject(kind, times=2)
    with pytest.raises(raised):
        client.media_comments_v1_chunk(media)
    with pytest.raises(raised):
        client.direct_threads_chunk()
    client.media_comments_v1_chunk(media)  # the N calls are used up: back to normal
    fake.inject(kind, times=1, path="/news/inbox/")
    with pytest.raises(raised):
        client.news_inbox_v1()  # the sensor's cheap read fails like any other endpoint
    client.news_inbox_v1()


def test_an_expired_session_is_refused_everywhere(fake, client):
    media = fake.add_media(OWNER)
    client.media_comments_v1_chunk(media)
    fake.expire_session(OWNER)
    with pytest.raises(ig.LoginRequired):
        client.direct_threads_chunk()
    with pytest.raises(ig.LoginRequired):
        client.media_comments_v1_chunk(media)


def test_the_activity_feed_notifies_comments_of_others_newest_first(fake, client):
    mine = fake.add_media(OWNER)
    other = fake.add_media(2002)  # someone else's post: not in this account's activity
    first = fake.add_comment(mine, 555, "siswa", "link daftar?")
    fake.add_comment(mine, OWNER, "op.one", "cek bio ya")  # the account's own: no notification
    fake.add_comment(other, 555, "siswa", "halo")
    reply = fake.add_comment(mine, 556, "budi", "ikut tanya")
    fake.media[mine].comments[-1].replied_to = first  # a threaded reply is notified too

    body = client.news_inbox_v1()
    stories = body["new_stories"]
    assert [s["args"]["comment_id"] for s in stories] == [int(reply), int(first)]
    assert {s["args"]["media"][0]["id"] for s in stories} == {f"{mine}_{OWNER}"}
    assert body["counts"]["comments"] == 2 and body["old_stories"] == []
    # reading without mark_as_seen changes nothing; the app's mark moves the stories to "old"
    assert client.news_inbox_v1()["counts"]["comments"] == 2
    client.news_inbox_v1(mark_as_seen=True)
    again = client.news_inbox_v1()
    assert again["new_stories"] == [] and len(again["old_stories"]) == 2


def test_the_inbox_sends_at_most_thread_message_limit_messages_per_thread(fake, client):
    thread = fake.add_dm(OWNER, 2001, "u1", "halo")
    fake.add_dm(OWNER, 2001, "u1", "min?")
    (got,), _cursor = client.direct_threads_chunk("unread", None, 1)
    assert got.id == thread and [m.text for m in got.messages] == ["min?"]
