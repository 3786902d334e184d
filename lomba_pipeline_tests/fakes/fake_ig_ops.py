"""A stateful fake Instagram for the operated accounts (instagrapi private API + Graph API).

instagrapi (the real SDK) talks to it through ``ClientOptions(api_base_url=fake.url)``; the Graph
publisher talks to ``fake.url + "/graph"``. The caller is identified like Instagram does, by the
``IG-U-DS-USER-ID`` header (the logged-in account). State is kept so that what the pipeline did is
visible afterwards: a reply posted shows up in the media's comments, a DM in the thread, a post in
the account's feed — which is what crash reconciliation checks.

As strict as instagrapi 3.2.2 and the private API it talks to (read from the installed
``instagrapi/mixins/comment.py``, ``direct.py``, ``private.py``):

- comments are paged newest page first (``comment_page_size``); ``has_more_comments`` and
  ``next_max_id`` (an opaque server cursor) lead to older pages; only top-level comments are
  listed (``can_support_threading``), a threaded reply shows up under its parent
  (``inline_child_comments``, ``child_comment_count``) and raises the media's ``comment_count``;
  a deleted comment lowers it;
- the DM inbox is paged by ``oldest_cursor``/``has_older`` (``inbox_page_size``);
- the activity feed (``news/inbox/``, instagrapi's ``news_inbox_v1``) lists a notification per
  comment someone else left on the account's media (threaded replies too, never the account's
  own), newest first, one page of ``activity_page_size``: ``new_stories`` after the account's
  ``last_checked`` mark, ``old_stories`` before it; ``mark_as_seen`` moves the mark, as the app
  does when a person opens the heart tab; ``counts.comments`` counts the new comment stories;
  a comment on someone else's media that mentions ``@<username>`` is a mention story there
  (its media id ``<pk>_<owner>`` names the other owner; its ``story_type``/``notif_name`` are
  stand-ins, not from a capture: the gateway reads only the media id and the comment id);
- sessions are checked: a revoked session id (``expire_session``) gets 403 ``login_required`` on
  every endpoint, also on the ``users/<pk>/info/`` check of ``login_by_sessionid``;
- password login runs instagrapi 3.2.2's own flow (``mixins/auth.py::login``, ``bloks.py``,
  ``attestation.py``, ``password.py``): USDID registration over ``graphql_www``, the CAA Bloks
  homepage (server-issued ``aac``), the attestation nonce, the OAuth preflight, then
  ``send_login_request`` with the password encrypted to the fake's RSA key (``qe/sync/``
  headers) and decrypted here. The right password gets a session inside the Bloks payload; a
  wrong one gets ``CAA_LOGIN_FALLBACK:fallback_triggered`` (instagrapi#2803: Instagram's
  instruction to finish through the legacy flow), and ``accounts/login/`` then answers 400
  ``bad_password``, which instagrapi raises as ``BadPassword`` after one more CAA try;
- ``inject(kind, times, path=..., account=...)`` answers ANY endpoint (or those whose path
  contains ``path``, of one account or all) with the real error reply for N calls: ``401``,
  ``429``, ``please_wait``, ``rate_limit``, ``login_required``, ``challenge_required``,
  ``feedback_required``, ``masked_challenge`` (bare 404 "Not Found").

The Graph API part is as strict as Meta documents it (graph-api/guides/error-handling,
instagram-platform/reference/refresh_access_token): every call needs a token issued by
``issue_graph_token`` for that Instagram user; an unknown token gets 400 ``OAuthException`` code
190, an expired one code 190 subcode 463 ("Session has expired on ..."); long-lived tokens last
60 days; ``GET /refresh_access_token?grant_type=ig_refresh_token`` (unversioned, at the host
root: the fake's ``/graph`` prefix stands for ``/v21.0``) answers ``access_token``, ``token_type``
and ``expires_in`` for a token at least 24 hours old and not expired. What Meta answers for a
younger token is not documented; the fake refuses it with code 100 (the pipeline never asks).
The fake's Graph time is ``graph_now`` (set by the test: no wall clock).

Other controls: ``set_down(user_pk, status)`` makes every call of one account fail;
``hang_after(path)`` applies a write and then hangs (the process "crashes" between sending and
recording); ``fail_next``/``latency_seconds`` from ``HttpFake``.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse, Response

from lomba_pipeline_tests.fakes.http_fake import HttpFake, route

# the replies the private API sends, as instagrapi's _send_private_request maps them
ERRORS: dict[str, tuple[int, dict | bytes]] = {
    "401": (401, {"message": "Unauthorized", "status": "fail"}),
    "429": (429, {"message": "rate limited", "status": "fail"}),
    "please_wait": (
        401,
        {"message": "Please wait a few minutes before you try again.", "status": "fail"},
    ),
    "rate_limit": (400, {"message": "", "error_type": "rate_limit_error", "status": "fail"}),
    "login_required": (
        403,
        {"message": "login_required", "logout_reason": 2, "status": "fail"},
    ),
    "challenge_required": (
        400,
        {
            "message": "challenge_required",
            "challenge": {
                "url": "https://i.instagram.com/challenge/1/AbCd/",
                "api_path": "/challenge/1/AbCd/",
                "hide_webview_header": True,
                "lock": True,
                "logout": False,
                "native_flow": True,
            },
            "status": "fail",
        },
    ),
    "feedback_required": (
        400,
        {
            "message": "feedback_required",
            "spam": True,
            "feedback_title": "Try Again Later",
            "feedback_message": "We restrict certain activity to protect our community.",
            "feedback_url": "repute/report_problem/scraping/",
            "status": "fail",
        },
    ),
    "masked_challenge": (404, b"Not Found"),
}


@dataclass
class Injection:
    kind: str
    times: int
    path: str = ""
    account: str | None = None


@dataclass
class FakeComment:
    pk: str
    media_pk: str
    user_pk: str
    username: str
    text: str
    replied_to: str | None = None
    created: float = field(default_factory=time.time)


@dataclass
class FakeMedia:
    pk: str
    owner_pk: str
    caption: str
    via: str = "seed"  # seed, instagrapi, graph
    image_url: str | None = None
    comments: list[FakeComment] = field(default_factory=list)


@dataclass
class FakeItem:
    item_id: str
    user_pk: str
    text: str
    ts: int


@dataclass
class FakeThread:
    thread_id: str
    owner_pk: str
    other_pk: str
    other_username: str
    items: list[FakeItem] = field(default_factory=list)


def _signed_body(call) -> dict:
    """instagrapi sends ``signed_body=SIGNATURE.<json>`` or plain form fields."""
    form = call.form()
    if "signed_body" in form:
        return json.loads(form["signed_body"].split(".", 1)[1])
    return form


class FakeIgOps(HttpFake):
    def __init__(self, latency_seconds: float = 0.0):
        super().__init__(latency_seconds=latency_seconds)
        self.users: dict[str, str] = {}
        self.media: dict[str, FakeMedia] = {}
        self.threads: dict[str, FakeThread] = {}
        self.containers: dict[str, dict] = {}
        self.down: dict[str, int] = {}
        self.hang: dict[str, float] = {}
        self.injections: list[Injection] = []
        self.revoked_sessions: set[str] = set()
        self.passwords: dict[str, str] = {}  # username -> password (``set_password``)
        self.graph_tokens: dict[str, dict] = {}  # token -> {user_pk, issued_at, expires_at}
        self.graph_now = None  # the Graph API's "now" (a datetime the test sets)
        self._rsa = None  # the password-encryption key pair, made on the first qe/sync/
        self.comment_page_size = 20  # instagrapi's default page on the comments endpoint
        self.inbox_page_size = 20  # the inbox's ``limit`` parameter
        self.activity_page_size = 50  # notifications per page of news/inbox
        self.activity_seen: dict[str, float] = {}  # user pk -> last_checked
        self._ids = itertools.count(1000)
        self._state = threading.Lock()

    # -- scripting ---------------------------------------------------------------------------
    def _next(self, prefix: str = "") -> str:
        return f"{prefix}{next(self._ids)}"

    def add_user(self, pk: str | int, username: str) -> str:
        self.users[str(pk)] = username
        return str(pk)

    def add_media(self, owner_pk, caption: str = "Info lomba") -> str:
        with self._state:
            pk = self._next("38000000000")
            self.media[pk] = FakeMedia(pk, str(owner_pk), caption)
        return pk

    def add_comment(self, media_pk: str, user_pk, username: str, text: str) -> str:
        with self._state:
            pk = self._next("1800000000")
            self.media[media_pk].comments.append(
                FakeComment(pk, media_pk, str(user_pk), username, text)
            )
        return pk

    def add_dm(self, owner_pk, from_pk, from_username: str, text: str) -> str:
        """A message from ``from_pk`` to the operated account (one thread per pair)."""
        with self._state:
            thread = next(
                (
                    t
                    for t in self.threads.values()
                    if t.owner_pk == str(owner_pk) and t.other_pk == str(from_pk)
                ),
                None,
            )
            if thread is None:
                thread = FakeThread(
                    self._next("3402823668417"), str(owner_pk), str(from_pk), from_username
                )
                self.threads[thread.thread_id] = thread
            thread.items.append(
                FakeItem(self._next(""), str(from_pk), text, int(time.time() * 1e6))
            )
        return thread.thread_id

    def delete_comment(self, comment_pk: str) -> None:
        """The author (or the account) deleted a comment: it and its replies are gone."""
        with self._state:
            for media in self.media.values():
                media.comments = [
                    c
                    for c in media.comments
                    if c.pk != str(comment_pk) and c.replied_to != str(comment_pk)
                ]

    def inject(self, kind: str, times: int = 1, *, path: str = "", account=None) -> None:
        """The next ``times`` calls (whose path contains ``path``, of ``account`` or anyone)
        get Instagram's ``kind`` error reply (see ``ERRORS``)."""
        if kind not in ERRORS:
            raise ValueError(f"unknown injection {kind!r}; one of {sorted(ERRORS)}")
        with self._state:
            self.injections.append(
                Injection(kind, times, path, str(account) if account is not None else None)
            )

    def set_password(self, username: str, password: str) -> None:
        """The account's password on "Instagram" (what a password login must present)."""
        self.passwords[username] = password

    def logins(self, username: str | None = None) -> list:
        """The password logins tried (CAA ``send_login_request`` and legacy ``accounts/login/``)."""
        calls = self.calls_to("send_login_request") + self.calls_to("/accounts/login/")
        if username is None:
            return calls
        return [c for c in calls if username in c.body.decode(errors="replace")]

    def issue_graph_token(self, user_pk, issued_at, days: int = 60) -> str:
        """A long-lived Instagram user token for ``user_pk``, valid ``days`` from ``issued_at``."""
        from datetime import timedelta

        token = f"IGAA{self._next('Tok')}x{len(self.graph_tokens)}"
        self.graph_tokens[token] = {
            "user_pk": str(user_pk),
            "issued_at": issued_at,
            "expires_at": issued_at + timedelta(days=days),
        }
        return token

    def expire_session(self, user_pk) -> None:
        """Instagram logged the account out: every session id it used so far is refused."""
        with self._state:
            for call in self.calls:
                if call.headers.get("ig-u-ds-user-id") == str(user_pk):
                    sid = _sessionid(call.headers)
                    if sid:
                        self.revoked_sessions.add(sid)

    def set_down(self, user_pk, status: int | None = 500) -> None:
        if status is None:
            self.down.pop(str(user_pk), None)
        else:
            self.down[str(user_pk)] = status

    def hang_after(self, path_contains: str, seconds: float = 60.0) -> None:
        """The next write whose path contains this is applied, then the answer hangs."""
        self.hang[path_contains] = seconds

    def stop(self) -> None:
        # hanging answers (crash tests) must not hold up shutdown
        if self._server is not None:
            self._server.force_exit = True
        super().stop()

    # -- inspection --------------------------------------------------------------------------
    def top_level(self, media_pk: str) -> list[FakeComment]:
        return [c for c in self.media[media_pk].comments if not c.replied_to]

    def replies_to(self, comment_pk: str) -> list[FakeComment]:
        return [
            c for m in self.media.values() for c in m.comments if c.replied_to == str(comment_pk)
        ]

    def posts_of(self, owner_pk) -> list[FakeMedia]:
        return [m for m in self.media.values() if m.owner_pk == str(owner_pk) and m.via != "seed"]

    def sent_in(self, thread_id: str) -> list[FakeItem]:
        thread = self.threads[thread_id]
        return [i for i in thread.items if i.user_pk == thread.owner_pk]

    # -- plumbing ----------------------------------------------------------------------------
    async def _dispatch(self, request):
        caller = request.headers.get("ig-u-ds-user-id")
        path = request.url.path
        if caller in self.down:
            status = self.down[caller]
            return JSONResponse({"message": "injected outage", "status": "fail"}, status)
        if path.startswith("/api/"):
            injected = self._take_injection(path, caller)
            if injected is None and _sessionid(request.headers) in self.revoked_sessions:
                injected = "login_required"
            if injected is not None:
                # recorded like any call: tests count what the pipeline asked
                await self._record(request)
                status, body = ERRORS[injected]
                if isinstance(body, bytes):
                    return Response(body, status_code=status, media_type="text/html")
                return JSONResponse(body, status)
        return await super()._dispatch(request)

    def _take_injection(self, path: str, caller: str | None) -> str | None:
        with self._state:
            for inj in self.injections:
                if inj.path in path and inj.account in (None, caller):
                    inj.times -= 1
                    if inj.times <= 0:
                        self.injections.remove(inj)
                    return inj.kind
        return None

    async def _maybe_hang(self, path: str) -> None:
        for fragment, seconds in list(self.hang.items()):
            if fragment in path:
                del self.hang[fragment]
                await asyncio.sleep(seconds)

    def _caller(self, call) -> str:
        return call.headers.get("ig-u-ds-user-id", "")

    def _user(self, pk: str) -> dict:
        return {
            "pk": str(pk),
            "username": self.users.get(str(pk), f"user{pk}"),
            "full_name": "",
            "profile_pic_url": "https://example.invalid/p.jpg",
            "is_private": False,
            "is_verified": False,
        }

    def _media_item(self, media: FakeMedia) -> dict:
        return {
            "taken_at": 1766905259,
            "pk": media.pk,
            "id": f"{media.pk}_{media.owner_pk}",
            "media_type": 1,
            "code": f"C{media.pk[-8:]}",
            "product_type": "feed",
            "comment_count": len(media.comments),
            "like_count": 0,
            "user": self._user(media.owner_pk),
            "image_versions2": {
                "candidates": [
                    {"width": 1080, "height": 1080, "url": "https://scontent.invalid/x.jpg"}
                ]
            },
            "original_width": 1080,
            "original_height": 1080,
            "caption": {
                "pk": "1",
                "user_id": media.owner_pk,
                "text": media.caption,
                "type": 1,
                "created_at": 1766905259,
                "created_at_utc": 1766905259,
                "content_type": "comment",
                "status": "Active",
            },
        }

    def _comment(self, c: FakeComment, *, with_children: bool = False) -> dict:
        body = {
            "pk": c.pk,
            "text": c.text,
            "user": self._user(c.user_pk) | {"username": c.username},
            "created_at_utc": int(c.created),
            "content_type": "comment",
            "status": "Active",
            "has_liked_comment": False,
            "comment_like_count": 0,
        }
        if c.replied_to:
            body["replied_to_comment_id"] = c.replied_to
            body["parent_comment_id"] = c.replied_to
        if with_children:
            children = self.replies_to(c.pk)
            body["child_comment_count"] = len(children)
            body["preview_child_comments"] = [self._comment(r) for r in children[-2:]]
            body["has_more_head_child_comments"] = len(children) > 2
        return body

    def _thread_json(self, t: FakeThread, message_limit: int | None = None) -> dict:
        items = sorted(t.items, key=lambda i: i.ts, reverse=True)[:message_limit]
        return {
            "thread_id": t.thread_id,
            "thread_v2_id": "1" + t.thread_id[-8:],
            "thread_type": "private",
            "thread_title": t.other_username,
            "users": [self._user(t.other_pk) | {"username": t.other_username}],
            "left_users": [],
            "admin_user_ids": [],
            "last_activity_at": items[0].ts if items else 0,
            "muted": False,
            "named": False,
            "canonical": True,
            "pending": False,
            "archived": False,
            "folder": 0,
            "vc_muted": False,
            "is_group": False,
            "mentions_muted": False,
            "approval_required_for_new_members": False,
            "input_mode": 0,
            "last_seen_at": {},
            "items": [
                {
                    "item_id": i.item_id,
                    "user_id": int(i.user_pk),
                    "timestamp": i.ts,
                    "item_type": "text",
                    "text": i.text,
                }
                for i in items
            ],
        }

    # -- private API routes ------------------------------------------------------------------
    @route("GET", r"/api/v1/users/(\d+)/info/")
    def user_info(self, call, user_pk):
        return 200, {
            "user": self._user(user_pk)
            | {"media_count": 0, "follower_count": 0, "following_count": 0, "is_business": False},
            "status": "ok",
        }

    @route("GET", r"/api/v1/feed/user/(\d+)/")
    def feed(self, call, user_pk):
        items = [self._media_item(m) for m in self.media.values() if m.owner_pk == user_pk]
        items.reverse()  # newest first
        return 200, {"items": items, "more_available": False, "status": "ok"}

    @route("GET", r"/api/v1/news/inbox/")
    def activity(self, call):
        """The account's notifications: comments others left on its media, newest first."""
        caller = self._caller(call)
        mention = f"@{self.users.get(caller, caller)}".casefold()
        with self._state:
            stories = sorted(
                (
                    (c, m)
                    for m in self.media.values()
                    for c in m.comments
                    if c.user_pk != caller
                    and (m.owner_pk == caller or mention in c.text.casefold())
                ),
                key=lambda cm: (cm[0].created, int(cm[0].pk)),
                reverse=True,
            )
            seen = self.activity_seen.get(caller, 0.0)
            page = stories[: self.activity_page_size]
            new = [self._story(c, m, caller) for c, m in page if c.created > seen]
            old = [self._story(c, m, caller) for c, m in page if c.created <= seen]
            if call.query.get("mark_as_seen") in ("True", "true", "1"):
                self.activity_seen[caller] = time.time()
        counts = dict.fromkeys(
            ("likes", "comments", "comment_likes", "relationships", "usertags",
             "photos_of_you", "requests", "campaign_notification", "shopping_notification"),
            0,
        )
        counts["comments"] = len(new)
        return 200, {
            "counts": counts,
            "last_checked": seen,
            "new_stories": new,
            "old_stories": old,
            "is_last_page": len(stories) <= len(page),
            "status": "ok",
        }

    def _story(self, c: FakeComment, media: FakeMedia, caller: str) -> dict:
        on_own_media = media.owner_pk == caller
        verb = "replied" if c.replied_to else "commented"
        if not on_own_media:
            verb = "mentioned you in a comment"
        return {
            "story_type": 12 if on_own_media else 66,
            "notif_name": "comment" if on_own_media else "comment_mention",
            "type": 1,
            "pk": f"story{c.pk}",
            "args": {
                "profile_id": int(c.user_pk),
                "profile_name": c.username,
                "text": f"{c.username} {verb}: {c.text}",
                "media": [{"id": f"{media.pk}_{media.owner_pk}",
                           "image": "https://scontent.invalid/x.jpg"}],
                "comment_id": int(c.pk),
                "comment_ids": [int(c.pk)],
                "timestamp": c.created,
                "tuuid": f"t{c.pk}",
            },
            "counts": {},
        }

    @route("GET", r"/api/v1/media/(\d+)(?:_\d+)?/comments/")
    def comments(self, call, media_pk):
        """Top-level comments, newest page first; ``next_max_id`` leads to older ones."""
        media = self.media.get(media_pk)
        if media is None:
            return 400, {"message": "Media not found or unavailable", "status": "fail"}
        with self._state:
            top = sorted(self.top_level(media_pk), key=lambda c: int(c.pk), reverse=True)
            cursor = call.query.get("max_id")
            if cursor:
                below = int(json.loads(cursor)["server_cursor"])
                top = [c for c in top if int(c.pk) < below]
            page = top[: self.comment_page_size]
            more = len(top) > len(page)
            body = {
                "caption": None,
                "caption_is_edited": False,
                "can_view_more_preview_comments": False,
                "comment_count": len(media.comments),
                # a page is shown oldest first, as in the app
                "comments": [self._comment(c, with_children=True) for c in reversed(page)],
                "has_more_comments": more,
                "has_more_headload_comments": False,
                "status": "ok",
            }
        if more:
            body["next_max_id"] = json.dumps(
                {"server_cursor": page[-1].pk, "is_server_cursor_inverse": False}
            )
        return 200, body

    @route("GET", r"/api/v1/media/(\d+)(?:_\d+)?/comments/(\d+)/inline_child_comments/")
    def child_comments(self, call, media_pk, comment_pk):
        media = self.media.get(media_pk)
        if media is None:
            return 400, {"message": "Media not found or unavailable", "status": "fail"}
        if not any(c.pk == comment_pk for c in media.comments):
            return 400, {"message": "Comment not found", "status": "fail"}
        children = self.replies_to(comment_pk)
        return 200, {
            "child_comments": [self._comment(c) for c in children],
            "child_comment_count": len(children),
            "has_more_head_child_comments": False,
            "has_more_tail_child_comments": False,
            "next_min_child_cursor": None,
            "status": "ok",
        }

    @route("POST", r"/api/v1/media/(\d+)_(\d+)/comment/")
    async def comment(self, call, media_pk, _owner):
        data = _signed_body(call)
        caller = self._caller(call)
        if media_pk not in self.media:
            return 400, {"message": "Media not found or unavailable", "status": "fail"}
        with self._state:
            reply = FakeComment(
                self._next("1800000000"),
                media_pk,
                caller,
                self.users.get(caller, caller),
                data["comment_text"],
                str(data["replied_to_comment_id"]) if data.get("replied_to_comment_id") else None,
            )
            self.media[media_pk].comments.append(reply)
        await self._maybe_hang(call.path)
        return 200, {"comment": self._comment(reply), "status": "ok"}

    @route("GET", r"/api/v1/direct_v2/inbox/")
    def inbox(self, call):
        """Threads by last activity, newest first, ``limit`` per page; ``oldest_cursor`` (and
        ``has_older``) lead to the next page, as ``direct_threads_chunk`` reads them."""
        caller = self._caller(call)
        with self._state:
            threads = [t for t in self.threads.values() if t.owner_pk == caller and t.items]
            if call.query.get("selected_filter") == "unread":
                threads = [t for t in threads if t.items[-1].user_pk != caller]
            threads.sort(key=lambda t: (t.items[-1].ts, t.thread_id), reverse=True)
            cursor = call.query.get("cursor")
            if cursor:
                ts, tid = cursor.split(":")
                threads = [t for t in threads if (t.items[-1].ts, t.thread_id) < (int(ts), tid)]
            limit = min(int(call.query.get("limit") or 20), self.inbox_page_size)
            page = threads[:limit]
            older = len(threads) > len(page)
            per_thread = int(call.query.get("thread_message_limit") or 10)
            body = {
                "threads": [self._thread_json(t, per_thread) for t in page],
                "has_older": older,
                "oldest_cursor": f"{page[-1].items[-1].ts}:{page[-1].thread_id}" if older else None,
                "unseen_count": len(threads),
            }
        return 200, {"inbox": body, "status": "ok"}

    @route("GET", r"/api/v1/direct_v2/threads/(\d+)/")
    def thread_detail(self, call, thread_id):
        thread = self.threads.get(thread_id)
        if thread is None or thread.owner_pk != self._caller(call):
            return 404, {"message": "Thread not found", "status": "fail"}
        return 200, {"thread": self._thread_json(thread) | {"oldest_cursor": None}, "status": "ok"}

    @route("POST", r"/api/v1/direct_v2/threads/broadcast/(text|link)/")
    async def broadcast(self, call, _kind):
        form = call.form()
        caller = self._caller(call)
        text = form.get("text") or form.get("link_text") or ""
        with self._state:
            thread = self.threads[str(json.loads(form["thread_ids"])[0])]
            item = FakeItem(self._next(""), caller, text, int(time.time() * 1e6))
            thread.items.append(item)
        await self._maybe_hang(call.path)
        return 200, {
            "action": "item_ack",
            "status_code": "200",
            "payload": {
                "client_context": form.get("client_context", "x"),
                "item_id": item.item_id,
                "timestamp": str(item.ts),
                "thread_id": thread.thread_id,
            },
            "status": "ok",
        }

    @route("POST", r"/rupload_igphoto/(.+)")
    def rupload(self, call, _name):
        params = json.loads(call.headers.get("x-instagram-rupload-params", "{}"))
        if not call.body:
            return 400, {"message": "empty upload", "status": "fail"}
        return 200, {"upload_id": params.get("upload_id", "1"), "status": "ok"}

    @route("POST", r"/api/v1/media/configure/")
    async def configure(self, call):
        data = _signed_body(call)
        caller = self._caller(call)
        with self._state:
            pk = self._next("38000000000")
            media = FakeMedia(pk, caller, data.get("caption", ""), via="instagrapi")
            self.media[pk] = media
        await self._maybe_hang(call.path)
        return 200, {"media": self._media_item(media), "status": "ok"}

    # -- password login (instagrapi 3.2.2: CAA Bloks first, legacy accounts flow on fallback) --
    def _key_pair(self):
        from Cryptodome.PublicKey import RSA

        with self._state:
            if self._rsa is None:
                self._rsa = RSA.generate(2048)
            return self._rsa

    @route("GET", r"/api/v1/qe/sync/")
    def password_keys(self, call):
        """``password_publickeys`` reads the key id and the PEM public key from the headers."""
        key = self._key_pair()
        pem = key.publickey().export_key()
        return JSONResponse(
            {"status": "ok"},
            headers={
                "ig-set-password-encryption-key-id": "41",
                "ig-set-password-encryption-pub-key": base64.b64encode(pem).decode(),
            },
        )

    def _decrypt_password(self, enc: str) -> str | None:
        """The inverse of instagrapi's ``password_encrypt`` (#PWD_INSTAGRAM:4:<ts>:<payload>)."""
        from Cryptodome.Cipher import AES, PKCS1_v1_5

        try:
            _tag, _version, timestamp, payload = enc.split(":", 3)
            raw = base64.b64decode(payload)
            size = int.from_bytes(raw[14:16], "little")
            iv, rsa_part = raw[2:14], raw[16 : 16 + size]
            tag, secret = raw[16 + size : 32 + size], raw[32 + size :]
            session_key = PKCS1_v1_5.new(self._key_pair()).decrypt(rsa_part, None)
            cipher = AES.new(session_key, AES.MODE_GCM, iv)
            cipher.update(timestamp.encode())
            return cipher.decrypt_and_verify(secret, tag).decode("utf-8")
        except (ValueError, TypeError, IndexError):
            return None

    def _new_session(self, username: str) -> tuple[str, str]:
        """(user pk, ``IG-Set-Authorization`` value) of a fresh session for ``username``."""
        pk = next((p for p, name in self.users.items() if name == username), None)
        if pk is None:
            pk = self.add_user(self._next("77"), username)
        sessionid = f"{pk}%3A{self._next('Sess')}%3A28%3AAYfresh"
        data = {"ds_user_id": pk, "sessionid": sessionid}
        return pk, "Bearer IGT:2:" + base64.b64encode(json.dumps(data).encode()).decode()

    def _password_ok(self, username: str, enc_password: str) -> bool:
        expected = self.passwords.get(username)
        return expected is not None and self._decrypt_password(enc_password) == expected

    @route("POST", r"/graphql_www")
    def graphql_www(self, call):
        form = call.form()
        if form.get("fb_api_req_friendly_name") != "IGUSDIDRegistrationMutation":
            return 400, {"errors": [{"message": "unsupported query in the fake"}]}
        return 200, {"data": {"xdt_usdid_registration": {"success": True}}}

    @route("POST", r"/api/v1/attestation/create_android_keystore/")
    def attestation(self, call):
        return 200, {
            "challenge_nonce": self._next("nonce"),
            "key_nonce": self._next("key"),
            "status": "ok",
        }

    @route("POST", r"/api/v1/bloks/async_action/([a-z_.]+)/")
    def bloks_action(self, call, action):
        params = json.loads(call.form().get("params") or "{}")
        if action == "com.bloks.www.bloks.caa.login.process_client_data_and_redirect":
            aac = json.dumps({"aac_init_timestamp": int(time.time()), "aacjid": self._next("j")})
            data = [{"data": {"key": "CAA_ACCOUNT_ACCESS_CONTEXT:aac", "initial": aac}}]
            return 200, {"layout": {"bloks_payload": {"data": data, "action": ""}},
                         "status": "ok"}
        if action == "com.bloks.www.caa.login.oauth.token.fetch.async":
            return 200, {"layout": {"bloks_payload": {"action": ""}}, "status": "ok"}
        if action == "com.bloks.www.bloks.caa.login.async.send_login_request":
            inputs = params.get("client_input_params") or {}
            username = inputs.get("contact_point", "")
            if not inputs.get("aac"):
                return 400, {"message": "Payload returned is null", "error_type": "field_exception",
                             "status": "fail"}
            if not self._password_ok(username, inputs.get("password", "")):
                # no session and no reason: the instruction to finish in the legacy flow
                # (a marker is a whole string value: ``_caa_result_action_markers``)
                data = [{"data": {"key": "CAA_LOGIN_FALLBACK:fallback_triggered"}}]
                return 200, {"layout": {"bloks_payload": {"data": data, "action": ""}},
                             "status": "ok"}
            pk, authorization = self._new_session(username)
            embedded = json.dumps({
                "login_response": json.dumps({"logged_in_user": self._user(pk), "status": "ok"}),
                "headers": json.dumps({"IG-Set-Authorization": authorization}),
                "cookies": "",
            })
            action_text = f"(bk.action.caa.HandleLoginResponse, {json.dumps(embedded)})"
            return 200, {"layout": {"bloks_payload": {"action": action_text}}, "status": "ok"}
        return 404, {"message": f"Endpoint {action} does not exist", "status": "fail"}

    @route("POST", r"/api/v1/launcher/sync/")
    def launcher_sync(self, call):
        return 200, {"configs": {}, "status": "ok"}

    @route("POST", r"/api/v1/accounts/login/")
    def legacy_login(self, call):
        data = _signed_body(call)
        username = data.get("username", "")
        if not self._password_ok(username, data.get("enc_password", "")):
            return 400, {
                "message": "The password you entered is incorrect. Please try again.",
                "invalid_credentials": True,
                "error_title": "Incorrect Password for " + username,
                "error_type": "bad_password",
                "status": "fail",
            }
        pk, authorization = self._new_session(username)
        return JSONResponse({"logged_in_user": self._user(pk), "status": "ok"},
                            headers={"ig-set-authorization": authorization})

    @route("POST", r"/api/v1/feed/reels_tray/")
    def reels_tray(self, call):
        return 200, {"tray": [], "status": "ok"}

    @route("POST", r"/api/v1/feed/timeline/")
    def timeline(self, call):
        return 200, {"feed_items": [], "more_available": False, "status": "ok"}

    # -- Graph API (content publishing) ------------------------------------------------------
    def _graph_error(self, message: str, code: int, subcode: int | None = None,
                     kind: str = "OAuthException"):
        error = {"message": message, "type": kind, "code": code, "fbtrace_id": self._next("AbTr")}
        if subcode is not None:
            error["error_subcode"] = subcode
        return 400, {"error": error}

    def _graph_token(self, call, user_pk: str | None = None):
        """(token info, None) for a valid token, else (None, the error reply Meta sends)."""
        token = (call.query | call.form()).get("access_token")
        if not token:
            return None, self._graph_error("An active access token must be used to query "
                                           "information about the current user.", 2500)
        info = self.graph_tokens.get(token)
        if info is None:
            return None, self._graph_error(
                "Invalid OAuth access token - Cannot parse access token", 190)
        if self.graph_now is None:
            raise AssertionError("set fake.graph_now: the Graph fake has no wall clock")
        if self.graph_now >= info["expires_at"]:
            stamp = "%A, %d-%b-%y %H:%M:%S UTC"
            return None, self._graph_error(
                f"Error validating access token: Session has expired on "
                f"{info['expires_at'].strftime(stamp)}. The current time is "
                f"{self.graph_now.strftime(stamp)}.", 190, 463)
        if user_pk is not None and info["user_pk"] != user_pk:
            return None, self._graph_error(
                "(#10) Application does not have permission for this action", 10)
        return info, None

    @route("GET", r"/refresh_access_token")
    def graph_refresh(self, call):
        if call.query.get("grant_type") != "ig_refresh_token":
            return self._graph_error("Unsupported grant_type", 100)
        info, refused = self._graph_token(call)
        if refused:
            return refused
        from datetime import timedelta

        if self.graph_now - info["issued_at"] < timedelta(hours=24):
            return self._graph_error("(fake) the token must be at least 24 hours old", 100)
        token = self.issue_graph_token(info["user_pk"], self.graph_now)
        expires_in = int((self.graph_tokens[token]["expires_at"] - self.graph_now).total_seconds())
        return 200, {"access_token": token, "token_type": "bearer", "expires_in": expires_in}

    @route("POST", r"/graph/(\d+)/media")
    def graph_container(self, call, user_pk):
        params = call.query | call.form()
        _info, refused = self._graph_token(call, user_pk)
        if refused:
            return refused
        cid = self._next("179")
        self.containers[cid] = {
            "user_pk": user_pk,
            "image_url": params.get("image_url"),
            "caption": params.get("caption", ""),
            "polls": 0,
        }
        return 200, {"id": cid}

    @route("GET", r"/graph/(\d+)")
    def graph_status(self, call, container_id):
        _info, refused = self._graph_token(call)
        if refused:
            return refused
        container = self.containers.get(container_id)
        if container is None:
            return 400, {"error": {"message": "Unsupported get request", "code": 100}}
        container["polls"] += 1
        return 200, {
            "id": container_id,
            "status_code": "FINISHED" if container["polls"] > 1 else "IN_PROGRESS",
        }

    @route("POST", r"/graph/(\d+)/media_publish")
    async def graph_publish(self, call, user_pk):
        params = call.query | call.form()
        _info, refused = self._graph_token(call, user_pk)
        if refused:
            return refused
        container = self.containers.get(params.get("creation_id", ""))
        if container is None or container["polls"] < 2:
            return 400, {"error": {"message": "Media ID is not available", "code": 9007}}
        with self._state:
            pk = self._next("38000000000")
            self.media[pk] = FakeMedia(
                pk, user_pk, container["caption"], via="graph", image_url=container["image_url"]
            )
        await self._maybe_hang(call.path)
        return 200, {"id": pk}

    @route("GET", r"/graph/(\d+)/media")
    def graph_media_list(self, call, user_pk):
        _info, refused = self._graph_token(call, user_pk)
        if refused:
            return refused
        return 200, {
            "data": [
                {"id": m.pk, "caption": m.caption}
                for m in reversed(list(self.media.values()))
                if m.owner_pk == user_pk
            ]
        }


def _sessionid(headers) -> str | None:
    """The session id inside instagrapi's ``Authorization: Bearer IGT:2:<base64 json>``."""
    auth = headers.get("authorization") or ""
    if not auth.startswith("Bearer IGT:2:"):
        return None
    try:
        data = json.loads(base64.b64decode(auth.split(":", 2)[2]))
    except ValueError:
        return None
    return data.get("sessionid")


def form_of(call) -> dict:
    return dict(parse_qsl(call.body.decode(errors="replace")))
