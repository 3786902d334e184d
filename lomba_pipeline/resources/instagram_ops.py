"""The operations gateway for the operated Instagram accounts.

``InstagramOpsGateway`` is what the lanes use: read comments, unread DMs and the own feed, reply,
send a DM, publish a photo, and the existence checks that crash reconciliation needs. The
instagrapi implementation covers everything; publishing is a separate ``PostPublisher`` with two
implementations: instagrapi (``photo_upload``) and the Instagram Graph API (create a container
from the public image URL, poll its ``status_code`` until FINISHED, ``media_publish``) over httpx.

Every failure surfaces as ``InstagramCallFailed`` naming the account and the operation; the SDK's
own exception type is kept in the message, never credentials.
"""

from __future__ import annotations

import os
import tempfile
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

import dagster as dg
import httpx

from lomba_pipeline.resources.instagram_client import (
    Credentials,
    InstagramSessions,
)


class InstagramCallFailed(RuntimeError):
    def __init__(self, account: str, operation: str, detail: str):
        super().__init__(f"{account}: {operation} failed: {detail}")
        self.account = account
        self.operation = operation
        self.detail = detail


@dataclass(frozen=True)
class MediaSummary:
    pk: str
    comment_count: int
    caption: str


@dataclass(frozen=True)
class IgComment:
    pk: str
    media_pk: str
    user_pk: str
    username: str
    text: str
    replied_to: str | None


@dataclass(frozen=True)
class IgMessage:
    thread_id: str
    item_id: str
    user_pk: str
    username: str
    text: str


@dataclass(frozen=True)
class PublishedPost:
    media_pk: str
    via: str


class PostPublisher(ABC):
    """Publishes one photo post and can tell whether a post with a caption exists."""

    @abstractmethod
    def publish(self, image: bytes, public_url: str, caption: str) -> PublishedPost: ...

    @abstractmethod
    def find_post(self, caption: str) -> str | None: ...


class InstagramOpsGateway(ABC):
    account: str
    user_pk: str

    @abstractmethod
    def recent_media(self, limit: int = 12) -> list[MediaSummary]: ...

    @abstractmethod
    def comments(self, media_pk: str) -> list[IgComment]: ...

    @abstractmethod
    def reply_to_comment(self, media_pk: str, comment_pk: str, text: str) -> str: ...

    @abstractmethod
    def unread_messages(self) -> list[IgMessage]:
        """The newest message from the other person in each unread thread."""

    @abstractmethod
    def send_dm(self, thread_id: str, text: str) -> str: ...

    @abstractmethod
    def thread_has_own_text(self, thread_id: str, text: str) -> bool: ...

    def comment_has_own_reply(self, media_pk: str, comment_pk: str, text: str) -> bool:
        return any(
            c.user_pk == self.user_pk and (c.replied_to == str(comment_pk) or c.text == text)
            for c in self.comments(media_pk)
        )

    @abstractmethod
    def publisher(self) -> PostPublisher: ...


def _failed(account: str, operation: str, exc: Exception) -> InstagramCallFailed:
    detail = f"{type(exc).__name__}: {str(exc)[:300]}"
    return InstagramCallFailed(account, operation, detail)


class InstagrapiPublisher(PostPublisher):
    def __init__(self, gateway: InstagrapiGateway):
        self.gateway = gateway

    def publish(self, image: bytes, public_url: str, caption: str) -> PublishedPost:
        # instagrapi uploads from a path
        fd, path = tempfile.mkstemp(suffix=".jpg")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(image)
            media = self.gateway._call(
                "photo_upload", self.gateway.client.photo_upload, path, caption
            )
        finally:
            os.unlink(path)
        return PublishedPost(str(media.pk), "instagrapi")

    def find_post(self, caption: str) -> str | None:
        medias = self.gateway._call(
            "user_medias", self.gateway.client.user_medias_v1, int(self.gateway.user_pk), 20
        )
        return next((str(m.pk) for m in medias if (m.caption_text or "") == caption), None)


class InstagrapiGateway(InstagramOpsGateway):
    def __init__(self, account: str, client, graph: GraphApiPublisher | None = None):
        self.account = account
        self.client = client
        self.user_pk = str(client.user_id)
        self._graph = graph

    def _call(self, operation: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # instagrapi raises many unrelated types
            raise _failed(self.account, operation, exc) from exc

    def recent_media(self, limit: int = 12) -> list[MediaSummary]:
        # private_request surfaces 401/429 instead of user_medias_v1's silent empty list
        result = self._call(
            "feed",
            self.client.private_request,
            f"feed/user/{self.user_pk}/",
            params={"count": limit},
        )
        return [
            MediaSummary(
                str(item["pk"]),
                int(item.get("comment_count") or 0),
                ((item.get("caption") or {}).get("text") or ""),
            )
            for item in result.get("items", [])[:limit]
        ]

    def comments(self, media_pk: str) -> list[IgComment]:
        # one chunk: media_comments_v1 loops until an empty page (see notes A4)
        found, _min, _max = self._call(
            "comments", self.client.media_comments_v1_chunk, str(media_pk)
        )
        return [
            IgComment(
                str(c.pk),
                str(media_pk),
                str(c.user.pk),
                c.user.username,
                c.text,
                str(c.replied_to_comment_id) if c.replied_to_comment_id else None,
            )
            for c in found
        ]

    def reply_to_comment(self, media_pk: str, comment_pk: str, text: str) -> str:
        comment = self._call(
            "reply",
            self.client.media_comment,
            f"{media_pk}_{self.user_pk}",
            text,
            replied_to_comment_id=int(comment_pk),
        )
        return str(comment.pk)

    def unread_messages(self) -> list[IgMessage]:
        threads = self._call("inbox", self.client.direct_threads, 20, selected_filter="unread")
        out = []
        for thread in threads:
            theirs = [m for m in thread.messages if str(m.user_id) != self.user_pk]
            if not theirs or str(thread.messages[0].user_id) == self.user_pk:
                continue  # last word is ours: nothing to answer
            newest = max(theirs, key=lambda m: m.timestamp)
            username = thread.users[0].username if thread.users else ""
            out.append(
                IgMessage(
                    str(thread.id), str(newest.id), str(newest.user_id), username, newest.text or ""
                )
            )
        return out

    def send_dm(self, thread_id: str, text: str) -> str:
        message = self._call("dm", self.client.direct_send, text, thread_ids=[int(thread_id)])
        return str(message.id)

    def thread_has_own_text(self, thread_id: str, text: str) -> bool:
        messages = self._call("thread", self.client.direct_messages, int(thread_id), 20)
        return any(str(m.user_id) == self.user_pk and (m.text or "") == text for m in messages)

    def publisher(self) -> PostPublisher:
        return self._graph or InstagrapiPublisher(self)


class GraphApiPublisher(PostPublisher):
    """Instagram Graph API content publishing: container → poll status_code → media_publish."""

    def __init__(
        self,
        account: str,
        base_url: str,
        ig_user_id: str,
        access_token: str,
        *,
        poll_seconds: float = 2.0,
        max_polls: int = 30,
        timeout: float = 30.0,
    ):
        self.account = account
        self.base_url = base_url.rstrip("/")
        self.ig_user_id = ig_user_id
        self._token = access_token
        self.poll_seconds = poll_seconds
        self.max_polls = max_polls
        self.timeout = timeout

    def _request(self, http: httpx.Client, operation: str, method: str, path: str, **params):
        params["access_token"] = self._token
        try:
            if method == "GET":
                response = http.get(f"{self.base_url}/{path}", params=params)
            else:
                response = http.post(f"{self.base_url}/{path}", data=params)
        except httpx.HTTPError as exc:
            detail = f"{type(exc).__name__}: {str(exc)[:300]}".replace(self._token, "***")
            raise InstagramCallFailed(self.account, operation, detail) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400 or "error" in body:
            message = (body.get("error") or {}).get("message") or response.text[:200]
            # never let the access token reach logs, events or metadata
            detail = f"HTTP {response.status_code}: {message}".replace(self._token, "***")
            raise InstagramCallFailed(self.account, operation, detail)
        return body

    def publish(self, image: bytes, public_url: str, caption: str) -> PublishedPost:
        with httpx.Client(timeout=self.timeout) as http:
            container = self._request(
                http,
                "graph_container",
                "POST",
                f"{self.ig_user_id}/media",
                image_url=public_url,
                caption=caption,
            )["id"]
            for _ in range(self.max_polls):
                status = self._request(
                    http, "graph_status", "GET", str(container), fields="status_code"
                ).get("status_code")
                if status == "FINISHED":
                    break
                if status in ("ERROR", "EXPIRED"):
                    raise InstagramCallFailed(self.account, "graph_status", f"container {status}")
                time.sleep(self.poll_seconds)
            else:
                raise InstagramCallFailed(
                    self.account, "graph_status", "container not FINISHED in time"
                )
            published = self._request(
                http,
                "graph_publish",
                "POST",
                f"{self.ig_user_id}/media_publish",
                creation_id=container,
            )
        return PublishedPost(str(published["id"]), "graph")

    def find_post(self, caption: str) -> str | None:
        with httpx.Client(timeout=self.timeout) as http:
            body = self._request(
                http, "graph_media", "GET", f"{self.ig_user_id}/media", fields="id,caption"
            )
        return next(
            (str(m["id"]) for m in body.get("data", []) if (m.get("caption") or "") == caption),
            None,
        )


class InstagramOpsResource(dg.ConfigurableResource):
    """Builds a gateway per operated account (sessions from Postgres, encrypted)."""

    api_base_url: str | None = None  # a local fake in tests and the offline demo
    request_delay_seconds: float = 1.0
    graph_api_base_url: str = "https://graph.instagram.com/v21.0"
    graph_poll_seconds: float = 2.0

    def gateway(
        self, postgres, account: str, username: str, credentials: dict
    ) -> InstagramOpsGateway:
        sessions = InstagramSessions.for_pipeline(
            postgres,
            api_base_url=self.api_base_url,
            request_delay_seconds=self.request_delay_seconds,
        )
        creds = Credentials(
            password=credentials.get("password"), sessionid=credentials.get("sessionid")
        )
        try:
            client = sessions.client_for(username, creds)
        except Exception as exc:
            raise _failed(account, "login", exc) from exc
        graph = None
        if credentials.get("graph_access_token") and credentials.get("graph_user_id"):
            graph = GraphApiPublisher(
                account,
                self.graph_api_base_url,
                credentials["graph_user_id"],
                credentials["graph_access_token"],
                poll_seconds=self.graph_poll_seconds,
            )
        return InstagrapiGateway(account, client, graph)
