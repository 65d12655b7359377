"""A fake Bluesky XRPC host on 127.0.0.1: sessions and ``app.bsky.feed.searchPosts``.

It serves the posts of a ``FakeJetstream``'s network as post views (author, record, embed
views, ``indexedAt``), the way the appview does: searchPosts needs a bearer access token from
``com.atproto.server.createSession`` (the handle and app password); an expired token answers
400 ``ExpiredToken`` and ``refreshSession`` (with the refresh token) renews it. Results are
the posts carrying ``tag`` (in a facet or the tags array, case folded), not deleted, with
``since <= sortAt < until``, newest first, ``limit`` per page with an opaque ``cursor``, and
no more than ``result_cap`` results per query (the real one stops around 10,000). Every
answer carries ``ratelimit-*`` headers; ``faults`` make it answer 429 (with a reset time) or
expire the token. Everything is logged with wall times.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from datetime import datetime
from typing import Any

from aiohttp import web

from tests.fakes.jetstream import FakeJetstream, FakePost, iso


def _parse(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _tags(post: FakePost) -> set[str]:
    tags = {t.casefold() for t in post.record.get("tags", [])}
    for facet in post.record.get("facets", []):
        for feature in facet.get("features", []):
            if feature.get("$type") == "app.bsky.richtext.facet#tag":
                tags.add(str(feature.get("tag", "")).casefold())
    return tags


def _sort_at(post: FakePost) -> float:
    created = _parse(post.record.get("createdAt")) or post.time_us / 1e6
    return min(created, post.time_us / 1e6)


class FakeBlueskyApi:
    def __init__(
        self, network: FakeJetstream, handle: str, password: str, *, result_cap: int = 10_000
    ) -> None:
        self.network = network
        self.handle = handle
        self.password = password
        self.result_cap = result_cap
        self.faults: deque[tuple[str, int]] = deque()  # ("429", reset in s) | ("expire", 0)
        self.search_log: list[dict[str, Any]] = []
        self.logins = 0
        self.refreshes = 0
        self.refused = 0  # requests with a missing, wrong or expired token
        self._tokens = itertools.count(1)
        self._access: str | None = None
        self._refresh: str | None = None
        self._expired: set[str] = set()
        self._cursors: dict[str, tuple[list[FakePost], int]] = {}
        self._remaining = 3000
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/xrpc/com.atproto.server.createSession", self._create_session)
        app.router.add_post("/xrpc/com.atproto.server.refreshSession", self._refresh_session)
        app.router.add_get("/xrpc/app.bsky.feed.searchPosts", self._search)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- sessions --------------------------------------------------------------------------

    def _issue(self) -> dict[str, str]:
        n = next(self._tokens)
        self._access, self._refresh = f"access-{n}.fakejwt", f"refresh-{n}.fakejwt"
        return {
            "accessJwt": self._access,
            "refreshJwt": self._refresh,
            "handle": self.handle,
            "did": "did:plc:searcheraccount",
        }

    def _limits(self, remaining: int | None = None, reset_in: int = 300) -> dict[str, str]:
        if remaining is None:
            self._remaining = max(self._remaining - 1, 1)
            remaining = self._remaining
        return {
            "ratelimit-limit": "3000",
            "ratelimit-remaining": str(remaining),
            "ratelimit-reset": str(int(time.time()) + reset_in),
            "ratelimit-policy": "3000;w=300",
        }

    async def _create_session(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("identifier") != self.handle or body.get("password") != self.password:
            error = {"error": "AuthenticationRequired", "message": "Invalid identifier or password"}
            return web.json_response(error, status=401, headers=self._limits())
        self.logins += 1
        return web.json_response(self._issue(), headers=self._limits())

    async def _refresh_session(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self._refresh}":
            error = {"error": "ExpiredToken", "message": "Token has expired"}
            return web.json_response(error, status=400, headers=self._limits())
        self.refreshes += 1
        return web.json_response(self._issue(), headers=self._limits())

    def expire_token(self) -> None:
        if self._access is not None:
            self._expired.add(self._access)

    # --- search ----------------------------------------------------------------------------

    async def _search(self, request: web.Request) -> web.Response:
        q = request.query
        now = time.time()
        entry: dict[str, Any] = {"params": dict(q), "at": now, "status": 200, "uris": []}
        self.search_log.append(entry)
        fault = self.faults.popleft() if self.faults else None
        if fault and fault[0] == "expire":
            self.expire_token()
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        if token in self._expired:
            self.refused += 1
            entry["status"] = 400
            error = {"error": "ExpiredToken", "message": "Token has expired"}
            return web.json_response(error, status=400, headers=self._limits())
        if not auth.startswith("Bearer ") or token != self._access:
            self.refused += 1
            entry["status"] = 401
            error = {"error": "AuthenticationRequired", "message": "Authentication Required"}
            return web.json_response(error, status=401, headers=self._limits())
        if fault and fault[0] == "429":
            entry.update(status=429, reset=int(now) + fault[1])
            error = {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}
            return web.json_response(error, status=429, headers=self._limits(0, fault[1]))
        try:
            limit = int(q.get("limit", "25"))
        except ValueError:
            limit = 0
        if not q.get("q") or not 1 <= limit <= 100 or q.get("sort", "latest") != "latest":
            error = {"error": "InvalidRequest", "message": "bad q, limit or sort"}
            return web.json_response(error, status=400, headers=self._limits())
        cursor = q.get("cursor")
        if cursor:
            matched, offset = self._cursors.pop(cursor)
        else:
            matched, offset = self._find(q), 0
        page = matched[offset : offset + limit]
        out: dict[str, Any] = {"posts": [self.view(p) for p in page]}
        following = offset + limit
        if following < min(len(matched), self.result_cap):
            token = f"c{len(self._cursors)}x{following}"
            self._cursors[token] = (matched, following)
            out["cursor"] = token
        entry["uris"] = [p.uri for p in page]
        return web.json_response(out, headers=self._limits())

    def _find(self, q: Any) -> list[FakePost]:
        tag = q.get("tag", q.get("q", "")).lstrip("#").casefold()
        since, until = _parse(q.get("since")), _parse(q.get("until"))
        found = [
            p
            for p in self.network.posts.values()
            if not p.deleted
            and tag in _tags(p)
            and (since is None or _sort_at(p) >= since)
            and (until is None or _sort_at(p) < until)
        ]
        return sorted(found, key=_sort_at, reverse=True)

    def view(self, post: FakePost) -> dict[str, Any]:
        view: dict[str, Any] = {
            "uri": post.uri,
            "cid": post.cid,
            "author": {
                "did": post.did,
                "handle": post.handle,
                "displayName": "صوت المعتقلين",
                "labels": [],
            },
            "record": post.record,
            "replyCount": 0,
            "repostCount": 0,
            "likeCount": 0,
            "quoteCount": 0,
            "indexedAt": iso(post.time_us),
            "labels": [],
        }
        embed = _embed_view(post)
        if embed is not None:
            view["embed"] = embed
        return view


def _embed_view(post: FakePost) -> dict[str, Any] | None:
    embed = post.record.get("embed")
    if not isinstance(embed, dict):
        return None
    kind = embed.get("$type")
    if kind == "app.bsky.embed.images":
        return {"$type": "app.bsky.embed.images#view", "images": _image_views(post, embed)}
    if kind == "app.bsky.embed.video":
        cid = embed["video"]["ref"]["$link"]
        base = f"https://video.cdn.example/watch/{post.did}/{cid}"
        return {
            "$type": "app.bsky.embed.video#view",
            "cid": cid,
            "playlist": f"{base}/playlist.m3u8",
            "thumbnail": f"{base}/thumbnail.jpg",
            "alt": embed.get("alt"),
            "aspectRatio": embed.get("aspectRatio"),
        }
    return None


def _image_views(post: FakePost, embed: dict[str, Any]) -> list[dict[str, Any]]:
    views = []
    for image in embed.get("images", []):
        cid = image["image"]["ref"]["$link"]
        views.append(
            {
                "thumb": f"https://img.cdn.example/thumb/{post.did}/{cid}@jpeg",
                "fullsize": f"https://img.cdn.example/full/{post.did}/{cid}@jpeg",
                "alt": image.get("alt", ""),
                "aspectRatio": image.get("aspectRatio"),
            }
        )
    return views
