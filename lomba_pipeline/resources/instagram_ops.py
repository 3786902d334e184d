"""The operations gateway for the operated Instagram accounts.

``InstagramOpsGateway`` is what the lanes use: read comments, unread DMs and the own feed, reply,
send a DM, publish a photo, and the existence checks that crash reconciliation needs. The
instagrapi implementation covers everything; publishing is a separate ``PostPublisher`` with two
implementations: instagrapi (``photo_upload``) and the Instagram Graph API (create a container
from the public image URL, poll its ``status_code`` until FINISHED, ``media_publish``) over httpx.

Every failure surfaces as ``InstagramCallFailed`` naming the account and the operation, with a
``kind`` the governance acts on (``login_required``, ``relogin_failed``, ``challenge``,
``feedback``, ``throttled``, ``other``); the SDK's own exception type is kept in the message,
never credentials. An expired session (403 ``login_required`` or a bare 401) is renewed once per
gateway with the stored credentials, then the call is retried.
"""

from __future__ import annotations

import ipaddress
import os
import tempfile
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

import dagster as dg
import httpx

from lomba_pipeline.resources.graph_token_refresh import fresh_graph_token
from lomba_pipeline.resources.instagram_client import (
    Credentials,
    InstagramSessions,
    secret_box_of,
)
from lomba_pipeline.resources.outbound import (
    OutboundFailed,
    OutboundPolicy,
    OutboundRefused,
    Resolver,
    address_problem,
    system_resolver,
)
from lomba_pipeline.secrets_box import EncryptionKey, SecretBox

# how many comment pages one look at one media may read (bounded work per item)
MAX_COMMENT_PAGES = 50


class InstagramCallFailed(RuntimeError):
    def __init__(self, account: str, operation: str, detail: str, kind: str = "other"):
        super().__init__(f"{account}: {operation} failed: {detail}")
        self.account = account
        self.operation = operation
        self.detail = detail
        self.kind = kind


def failure_kind(exc: Exception) -> str:
    """What Instagram meant, from instagrapi's exception (mixins/private.py's mapping)."""
    from instagrapi import exceptions as ig

    if isinstance(exc, ig.ChallengeRequired | ig.AccountSuspended):
        return "challenge"
    if isinstance(exc, ig.FeedbackRequired | ig.SentryBlock):
        return "feedback"
    if isinstance(
        exc, ig.PleaseWaitFewMinutes | ig.RateLimitError | ig.ClientThrottledError
    ):
        return "throttled"
    if isinstance(exc, ig.LoginRequired | ig.ClientUnauthorizedError):
        return "login_required"
    return "other"


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
class CommentNotice:
    """One comment notification of the activity feed: which media, which comment, when."""

    media_pk: str
    comment_pk: str
    at: float  # Instagram's own timestamp (seconds)


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
    def comments(self, media_pk: str, newer_than: str | None = None) -> list[IgComment]:
        """Top-level comments newer than comment ``newer_than`` (all when None), oldest first,
        read page by page until that comment is reached."""

    @abstractmethod
    def replies_of(self, media_pk: str, comment_pk: str) -> list[IgComment]:
        """The threaded replies under one comment."""

    @abstractmethod
    def reply_to_comment(self, media_pk: str, comment_pk: str, text: str) -> str: ...

    @abstractmethod
    def unread_messages(self) -> list[IgMessage]:
        """The newest message from the other person in each unread thread."""

    @abstractmethod
    def comment_activity(self) -> list[CommentNotice]:
        """One read of the activity feed: the comment notifications on its first page."""

    @abstractmethod
    def unread_dm_page(self) -> list[IgMessage]:
        """One read of the DM inbox (first page of unread threads): as ``unread_messages``."""

    @abstractmethod
    def send_dm(self, thread_id: str, text: str) -> str: ...

    @abstractmethod
    def thread_has_own_text(self, thread_id: str, text: str) -> bool: ...

    def comment_has_own_reply(self, media_pk: str, comment_pk: str, text: str) -> bool:
        # our answers are threaded replies: they live under the comment, not in the top list
        return any(c.user_pk == self.user_pk for c in self.replies_of(media_pk, comment_pk))

    @abstractmethod
    def publisher(self) -> PostPublisher: ...


def _credentials_refused(account: str, operation: str, what: str, exc: Exception):
    """A login with the stored credentials failed: pause at once (``relogin_failed``), never
    retry a wrong password, and say how to fix it."""
    return InstagramCallFailed(
        account,
        operation,
        f"{what} with the stored credentials failed ({type(exc).__name__}); fix the "
        f"credentials, then run `lomba accounts login {account}`",
        "relogin_failed",
    )


def _login_failed(account: str, exc: Exception) -> InstagramCallFailed:
    """A first login's failure: the credentials' fault, or a passing one (throttle, network)."""
    from instagrapi import exceptions as ig

    from lomba_pipeline.resources.instagram_client import InstagramNotConfigured

    refused = (
        ig.BadPassword | ig.BadCredentials | ig.TwoFactorRequired | ig.LoginRequired
        | ig.ReloginAttemptExceeded | InstagramNotConfigured
    )
    if isinstance(exc, refused):
        return _credentials_refused(account, "login", "login", exc)
    return _failed(account, "login", exc)


def _failed(account: str, operation: str, exc: Exception, kind: str | None = None):
    detail = f"{type(exc).__name__}: {str(exc)[:300]}"
    return InstagramCallFailed(account, operation, detail, kind or failure_kind(exc))


class InstagrapiPublisher(PostPublisher):
    def __init__(self, gateway: InstagrapiOpsGateway):
        self.gateway = gateway

    def publish(self, image: bytes, public_url: str, caption: str) -> PublishedPost:
        # instagrapi uploads from a path
        fd, path = tempfile.mkstemp(suffix=".jpg")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(image)
            media = self.gateway._call("photo_upload", "photo_upload", path, caption)
        finally:
            os.unlink(path)
        return PublishedPost(str(media.pk), "instagrapi")

    def find_post(self, caption: str) -> str | None:
        # not user_medias_v1: it answers [] on 401/429, which would read as "not posted"
        items = self.gateway._feed(20)
        return next(
            (
                str(item["pk"])
                for item in items
                if ((item.get("caption") or {}).get("text") or "") == caption
            ),
            None,
        )


def _comment(media_pk: str, c) -> IgComment:
    return IgComment(
        str(c.pk),
        str(media_pk),
        str(c.user.pk),
        c.user.username,
        c.text,
        str(c.replied_to_comment_id) if c.replied_to_comment_id else None,
    )


class InstagrapiOpsGateway(InstagramOpsGateway):
    """instagrapi behind the lanes. ``relogin`` (when given) makes a fresh client from the stored
    credentials; it is tried once per gateway when Instagram says the session is gone."""

    def __init__(
        self, account: str, client, graph: GraphApiPublisher | None = None, relogin=None
    ):
        self.account = account
        self.client = client
        self.user_pk = str(client.user_id)
        self._graph = graph
        self._relogin = relogin
        self.relogged = False

    def _call(self, operation: str, fn_name: str, *args, **kwargs):
        """Call ``client.<fn_name>``; on an expired session re-login once and call again."""
        try:
            return getattr(self.client, fn_name)(*args, **kwargs)
        except Exception as exc:  # instagrapi raises many unrelated types
            failure = _failed(self.account, operation, exc)
            if failure.kind != "login_required" or self._relogin is None or self.relogged:
                raise failure from exc
        self.relogged = True
        try:
            self.client = self._relogin(self.client)
        except Exception as exc:
            raise _credentials_refused(
                self.account, "relogin", "session expired and re-login", exc
            ) from exc
        try:
            return getattr(self.client, fn_name)(*args, **kwargs)
        except Exception as exc:
            raise _failed(self.account, operation, exc) from exc

    def _feed(self, count: int) -> list[dict]:
        # private_request surfaces 401/429 instead of user_medias_v1's silent empty list
        result = self._call(
            "feed", "private_request", f"feed/user/{self.user_pk}/", params={"count": count}
        )
        return result.get("items", [])[:count]

    def recent_media(self, limit: int = 12) -> list[MediaSummary]:
        return [
            MediaSummary(
                str(item["pk"]),
                int(item.get("comment_count") or 0),
                ((item.get("caption") or {}).get("text") or ""),
            )
            for item in self._feed(limit)
        ]

    def comments(self, media_pk: str, newer_than: str | None = None) -> list[IgComment]:
        # page by page (media_comments_v1 ignores has_more_comments and loops on an empty
        # cursor, see notes A4), newest page first, until the last comment already seen
        found: dict[str, IgComment] = {}
        max_id = ""
        for _page in range(MAX_COMMENT_PAGES):
            chunk, _min_id, max_id = self._call(
                "comments", "media_comments_v1_chunk", str(media_pk), "", max_id
            )
            for c in chunk:
                found[str(c.pk)] = _comment(media_pk, c)
            reached = newer_than is not None and any(
                int(c.pk) <= int(newer_than) for c in chunk
            )
            more = (self.client.last_json or {}).get("has_more_comments")
            if reached or not chunk or not more or not max_id:
                break
        fresh = [c for c in found.values() if newer_than is None or int(c.pk) > int(newer_than)]
        return sorted(fresh, key=lambda c: int(c.pk))

    def replies_of(self, media_pk: str, comment_pk: str) -> list[IgComment]:
        replies, _cursor = self._call(
            "replies",
            "media_comment_replies_chunk",
            f"{media_pk}_{self.user_pk}",  # the full id: no media_info lookup
            str(comment_pk),
            200,
        )
        return [_comment(media_pk, c) for c in replies]

    def reply_to_comment(self, media_pk: str, comment_pk: str, text: str) -> str:
        comment = self._call(
            "reply",
            "media_comment",
            f"{media_pk}_{self.user_pk}",
            text,
            replied_to_comment_id=int(comment_pk),
        )
        return str(comment.pk)

    def unread_messages(self) -> list[IgMessage]:
        threads = self._call("inbox", "direct_threads", 20, selected_filter="unread")
        return self._unanswered(threads)

    def unread_dm_page(self) -> list[IgMessage]:
        # one request: the first page, one message per thread (the newest) is all a look needs
        threads, _cursor = self._call("inbox", "direct_threads_chunk", "unread", None, 1)
        return self._unanswered(threads)

    def comment_activity(self) -> list[CommentNotice]:
        # never mark_as_seen: the heart tab stays as the people running the account left it
        body = self._call("activity", "news_inbox_v1", False)
        notices = []
        for story in (body.get("new_stories") or []) + (body.get("old_stories") or []):
            args = story.get("args") or {}
            comment = args.get("comment_id") or next(iter(args.get("comment_ids") or []), None)
            media = str(next(iter(args.get("media") or []), {}).get("id") or "")
            media_pk, _, owner = media.partition("_")
            if not (comment and media_pk):
                continue  # likes, follows, ... are no work for the reply lane
            if owner and owner != self.user_pk:
                continue  # a mention under someone else's post: not the account's to answer
            notices.append(CommentNotice(media_pk, str(comment), float(args.get("timestamp") or 0)))
        return notices

    def _unanswered(self, threads) -> list[IgMessage]:
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
        message = self._call("dm", "direct_send", text, thread_ids=[int(thread_id)])
        return str(message.id)

    def thread_has_own_text(self, thread_id: str, text: str) -> bool:
        messages = self._call("thread", "direct_messages", int(thread_id), 20)
        return any(str(m.user_id) == self.user_pk and (m.text or "") == text for m in messages)

    def publisher(self) -> PostPublisher:
        return self._graph or InstagrapiPublisher(self)


class GraphOnlyGateway(InstagramOpsGateway):
    """An account with only a Graph API token (no session id, no password): it posts through
    the Graph API and needs no private-API login. Comments and DMs are read through the private
    API only, so the reply lane sees nothing to answer for it (and never cools it down)."""

    def __init__(self, account: str, graph: GraphApiPublisher):
        self.account = account
        self.user_pk = str(graph.ig_user_id)
        self._graph = graph

    def _no_private_api(self, operation: str):
        return InstagramCallFailed(
            self.account, operation,
            "Graph-only account: replies and DMs need a session id or password in accounts.yaml",
        )

    def recent_media(self, limit: int = 12) -> list[MediaSummary]:
        return []

    def comments(self, media_pk: str, newer_than: str | None = None) -> list[IgComment]:
        return []

    def replies_of(self, media_pk: str, comment_pk: str) -> list[IgComment]:
        return []

    def reply_to_comment(self, media_pk: str, comment_pk: str, text: str) -> str:
        raise self._no_private_api("reply")

    def unread_messages(self) -> list[IgMessage]:
        return []

    def comment_activity(self) -> list[CommentNotice]:
        return []

    def unread_dm_page(self) -> list[IgMessage]:
        return []

    def send_dm(self, thread_id: str, text: str) -> str:
        raise self._no_private_api("dm")

    def thread_has_own_text(self, thread_id: str, text: str) -> bool:
        raise self._no_private_api("thread")

    def publisher(self) -> PostPublisher:
        return self._graph


class GraphApiPublisher(PostPublisher):
    """Instagram Graph API content publishing: container → poll status_code → media_publish.

    Meta fetches ``image_url`` itself, from the internet: a URL it cannot reach (loopback,
    private network, not https, the local object store's 127.0.0.1) is refused here, naming the
    account and the URL, instead of a container that fails minutes later.
    """

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
        resolver: Resolver = system_resolver,
    ):
        self.account = account
        self.base_url = base_url.rstrip("/")
        self.ig_user_id = ig_user_id
        self._token = access_token
        self.poll_seconds = poll_seconds
        self.max_polls = max_polls
        self.timeout = timeout
        self._resolver = resolver

    @property
    def root_url(self) -> str:
        """The host root: ``refresh_access_token`` is served unversioned
        (``https://graph.instagram.com/refresh_access_token``), the base URL ends in ``/v21.0``."""
        return self.base_url.rsplit("/", 1)[0]

    def _request(
        self, http: httpx.Client, operation: str, method: str, path: str, *, base=None, **params
    ):
        params["access_token"] = self._token
        url = f"{base or self.base_url}/{path}"
        try:
            if method == "GET":
                response = http.get(url, params=params)
            else:
                response = http.post(url, data=params)
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

    def refresh_token(self) -> tuple[str, int]:
        """A new long-lived token for the current one: ``(access_token, expires_in seconds)``."""
        with httpx.Client(timeout=self.timeout) as http:
            body = self._request(
                http, "graph_refresh", "GET", "refresh_access_token",
                base=self.root_url, grant_type="ig_refresh_token",
            )
        try:
            return str(body["access_token"]), int(body["expires_in"])
        except (KeyError, TypeError, ValueError):
            raise InstagramCallFailed(
                self.account, "graph_refresh", "answer without access_token/expires_in"
            ) from None

    def image_url_problem(self, url: str) -> str | None:
        """Why Meta could not fetch ``url``, or None. A name that does not resolve here is
        let through (Meta resolves it, not us); an internal address never is."""
        try:
            parsed = OutboundPolicy(resolver=self._resolver).check_url(url)
        except OutboundRefused as exc:
            return exc.reason
        if parsed.scheme != "https":
            return "Meta fetches images over https only"
        try:  # an address in the URL itself needs no resolver
            literal = ipaddress.ip_address(parsed.host.strip("[]"))
        except ValueError:
            pass
        else:
            return address_problem(literal)
        try:
            OutboundPolicy(resolver=self._resolver).destinations(parsed.host, parsed.port or 443)
        except OutboundRefused as exc:
            return exc.reason
        except OutboundFailed:
            return None
        return None

    def publish(self, image: bytes, public_url: str, caption: str) -> PublishedPost:
        problem = self.image_url_problem(public_url)
        if problem:
            raise InstagramCallFailed(
                self.account,
                "graph_container",
                f"image URL {public_url} is not public ({problem}): the Graph API fetches the "
                "image from the internet; configure R2 (LOMBA_R2_*) or a public "
                "LOMBA_PUBLIC_MEDIA_URL",
            )
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
    encryption: EncryptionKey | None = None  # credentials, sessions and tokens at rest

    def secret_box(self) -> SecretBox:
        return secret_box_of("ig_ops", self.encryption)

    def gateway(
        self, postgres, account: str, username: str, credentials: dict, now=None
    ) -> InstagramOpsGateway:
        """The account's gateway. With ``now`` (a lane run), a Graph API token that is due is
        refreshed first. An account with a Graph token and no instagrapi credentials is
        Graph-only: it posts without any private-API login."""
        graph = self._graph_publisher(postgres, account, credentials, now)
        if graph is not None and not (credentials.get("password") or credentials.get("sessionid")):
            return GraphOnlyGateway(account, graph)
        sessions = InstagramSessions.for_pipeline(
            postgres,
            self.secret_box(),
            api_base_url=self.api_base_url,
            request_delay_seconds=self.request_delay_seconds,
        )
        creds = Credentials(
            password=credentials.get("password"), sessionid=credentials.get("sessionid")
        )
        try:
            client = sessions.client_for(username, creds)
        except Exception as exc:
            raise _login_failed(account, exc) from exc

        def relogin(previous):
            if not (creds.password or creds.sessionid):
                raise RuntimeError("no stored credentials to log in with")
            return sessions.login(username, creds, previous=previous)

        return InstagrapiOpsGateway(account, client, graph, relogin=relogin)

    def _graph_publisher(self, postgres, account: str, credentials: dict, now):
        imported = credentials.get("graph_access_token")
        user_id = credentials.get("graph_user_id")
        if not (imported and user_id):
            return None

        def publisher(token: str) -> GraphApiPublisher:
            return GraphApiPublisher(
                account, self.graph_api_base_url, user_id, token,
                poll_seconds=self.graph_poll_seconds,
            )

        token = fresh_graph_token(
            postgres, self.secret_box(), account, imported, now,
            refresh=lambda current: publisher(current).refresh_token(),
        )
        return publisher(token)
