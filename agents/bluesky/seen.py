"""What the Bluesky collector remembers of what it published, across reconnects and restarts.

Jetstream says what happens to a record, never which campaign it belongs to: a repost names
only its subject, a delete only the record. So the collector remembers the campaign posts (and
reposts) it published, with what a repost carries over from its original (text, hashtags,
media, language): a repost of one of them is published as its repost, a delete as its
deletion, an update as a new version even when the edit removed the campaign's hashtag. The
most recent ``limit`` are kept, in memory and in an append-only file beside the checkpoint
(compacted when it grows past twice that), so a restarted collector still knows them.

``Recent`` is the other memory: the records published in the last seconds of the stream,
kept in the checkpoint, so the events a reconnect or a restart replays (it resumes a little
before its cursor) are not published twice.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from pathlib import Path
from typing import IO

import msgspec

from schemas.post import Hashtag, Media, Post

log = logging.getLogger(__name__)


class Original(msgspec.Struct, frozen=True, kw_only=True):
    """A published campaign post as far as its reposts need it."""

    uid: str
    text: str = ""
    hashtags: list[Hashtag] = []
    media: list[Media] = []
    platform_lang: str | None = None
    possibly_sensitive: bool = False
    repost: bool = False  # a repost we published (only its deletion matters)

    @classmethod
    def of(cls, post: Post) -> Original:
        return cls(
            uid=post.uid,
            text=post.text,
            hashtags=post.hashtags,
            media=post.media,
            platform_lang=post.platform_lang,
            possibly_sensitive=post.possibly_sensitive,
            repost=post.reference("retweet") is not None,
        )


_decoder = msgspec.json.Decoder(Original)
_encoder = msgspec.json.Encoder()


class SeenPosts:
    def __init__(self, path: Path | None = None, limit: int = 100_000) -> None:
        self.path = path
        self.limit = limit
        self._posts: OrderedDict[str, Original] = OrderedDict()
        self._file: IO[bytes] | None = None
        self._lines = 0

    def __contains__(self, uid: str) -> bool:
        return uid in self._posts

    def __len__(self) -> int:
        return len(self._posts)

    def get(self, uid: str) -> Original | None:
        return self._posts.get(uid)

    def load(self) -> None:
        """What the file remembers; a line torn by a crash is passed over."""
        if self.path is None or not self.path.exists():
            return
        torn = 0
        with open(self.path, "rb") as fh:
            for line in fh:
                try:
                    self._remember(_decoder.decode(line))
                except msgspec.DecodeError:
                    torn += 1
                self._lines += 1
        if torn:
            log.warning("%s: %d unreadable line(s) passed over", self.path, torn)

    def add(self, post: Post) -> None:
        original = Original.of(post)
        known = self._posts.get(post.uid)
        if known == original:
            self._posts.move_to_end(post.uid)
            return
        self._remember(original)
        self._append(_encoder.encode(original) + b"\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _remember(self, original: Original) -> None:
        self._posts[original.uid] = original
        self._posts.move_to_end(original.uid)
        while len(self._posts) > self.limit:
            self._posts.popitem(last=False)

    def _append(self, line: bytes) -> None:
        if self.path is None:
            return
        if self._lines >= 2 * self.limit:
            self._compact()
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab")  # noqa: SIM115 - kept open while collecting
        self._file.write(line)
        self._file.flush()
        self._lines += 1

    def _compact(self) -> None:
        assert self.path is not None
        self.close()
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as fh:
            for original in self._posts.values():
                fh.write(_encoder.encode(original) + b"\n")
        os.replace(tmp, self.path)
        self._lines = len(self._posts)


class Recent:
    """Keys of records published at ``time_us``, kept for ``keep_us`` of stream time."""

    def __init__(self, keep_us: int, limit: int = 100_000) -> None:
        self.keep_us = keep_us
        self.limit = limit
        self._keys: dict[str, int] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def add(self, key: str, time_us: int) -> None:
        self._keys[key] = time_us

    def prune(self, newest_us: int) -> None:
        oldest = newest_us - self.keep_us
        self._keys = {k: t for k, t in self._keys.items() if t >= oldest}
        while len(self._keys) > self.limit:
            del self._keys[next(iter(self._keys))]

    def dump(self) -> list[list[object]]:
        return [[k, t] for k, t in self._keys.items()]

    def restore(self, saved: object) -> None:
        for item in saved if isinstance(saved, list) else ():
            if (
                isinstance(item, list)
                and len(item) == 2
                and isinstance(item[0], str)
                and isinstance(item[1], int)
            ):
                self._keys[item[0]] = item[1]
