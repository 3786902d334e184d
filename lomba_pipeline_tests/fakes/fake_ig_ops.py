"""A stateful fake Instagram for the operated accounts (instagrapi private API + Graph API).

instagrapi (the real SDK) talks to it through ``ClientOptions(api_base_url=fake.url)``; the Graph
publisher talks to ``fake.url + "/graph"``. The caller is identified like Instagram does, by the
``IG-U-DS-USER-ID`` header (the logged-in account). State is kept so that what the pipeline did is
visible afterwards: a reply posted shows up in the media's comments, a DM in the thread, a post in
the account's feed — which is what crash reconciliation checks.

Controls: ``set_down(user_pk, status)`` makes every call of one account fail; ``hang_after(path)``
applies a write and then hangs (the process "crashes" between sending and recording);
``fail_next``/``latency_seconds`` from ``HttpFake``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse

from lomba_pipeline_tests.fakes.http_fake import HttpFake, route


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
        if caller in self.down:
            status = self.down[caller]
            return JSONResponse({"message": "injected outage", "status": "fail"}, status)
        return await super()._dispatch(request)

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

    def _comment(self, c: FakeComment) -> dict:
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
        return body

    def _thread_json(self, t: FakeThread) -> dict:
        items = sorted(t.items, key=lambda i: i.ts, reverse=True)
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

    @route("GET", r"/api/v1/media/(\d+)/comments/")
    def comments(self, call, media_pk):
        media = self.media.get(media_pk)
        if media is None:
            return 404, {"message": "Media not found", "status": "fail"}
        return 200, {
            "comments": [self._comment(c) for c in media.comments],
            "comment_count": len(media.comments),
            "has_more_comments": False,
            "status": "ok",
        }

    @route("POST", r"/api/v1/media/(\d+)_(\d+)/comment/")
    async def comment(self, call, media_pk, _owner):
        data = _signed_body(call)
        caller = self._caller(call)
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
        caller = self._caller(call)
        threads = [t for t in self.threads.values() if t.owner_pk == caller]
        if call.query.get("selected_filter") == "unread":
            threads = [t for t in threads if t.items and t.items[-1].user_pk != caller]
        return 200, {
            "inbox": {
                "threads": [self._thread_json(t) for t in threads],
                "has_older": False,
                "oldest_cursor": None,
            },
            "status": "ok",
        }

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

    # -- Graph API (content publishing) ------------------------------------------------------
    @route("POST", r"/graph/(\d+)/media")
    def graph_container(self, call, user_pk):
        params = call.query | call.form()
        if not params.get("access_token"):
            return 400, {"error": {"message": "An access token is required", "code": 104}}
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
        return 200, {
            "data": [
                {"id": m.pk, "caption": m.caption}
                for m in reversed(list(self.media.values()))
                if m.owner_pk == user_pk
            ]
        }


def form_of(call) -> dict:
    return dict(parse_qsl(call.body.decode(errors="replace")))
