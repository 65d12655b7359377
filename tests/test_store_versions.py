"""Deletions and edits are evidence, on both stores: a post row is never removed, every later
version is kept, and a deletion seen before its post still marks it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest

from pipeline.sinks import Store, open_store
from pipeline.sinks.querying import as_time, placeholders
from schemas.post import Post, PostDeletion
from schemas.testing import PROVENANCE, T0, enriched, post


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, pg_base: str, schema: str
) -> AsyncIterator[Store]:
    url = (
        f"sqlite:///{tmp_path}/v.db" if request.param == "sqlite" else f"{pg_base}?schema={schema}"
    )
    s = open_store(url)
    await s.open()
    yield s
    await s.close()


def deletion(ident: str, at: float = 60.0) -> PostDeletion:
    raw = b'{"event": "delete", "payload": "%s"}' % ident.encode()
    return PostDeletion(
        uid=f"mastodon:{ident}",
        platform="mastodon",
        id=ident,
        deleted_at=T0 + timedelta(seconds=at),
        provenance=PROVENANCE.of(raw),
        raw=msgspec.Raw(raw),
    )


def toot(ident: str, text: str, edited: float | None = None) -> Post:
    return post(
        ident,
        text,
        platform="mastodon",
        raw=b'{"id": "%s", "content": "%s"}' % (ident.encode(), text.encode()),
        edited_at=None if edited is None else T0 + timedelta(seconds=edited),
    )


async def rows(store: Store, sql: str, *args: object) -> list[tuple[object, ...]]:
    return await store.query(placeholders(sql, store), *args)


async def test_an_edit_is_a_version_and_a_deletion_marks_the_post(store: Store) -> None:
    first = toot("a1", "first words")
    edit = toot("a1", "edited words", edited=30)
    await store.write([enriched(first)])
    await store.write([msgspec.structs.replace(enriched(edit, lang="en"), edit=True)])
    await store.write([msgspec.structs.replace(enriched(edit, lang="en"), edit=True)])
    await store.write_deletions([deletion("a1"), deletion("a1")])
    [(text, edited_at, deleted_at)] = await rows(
        store, "SELECT text, edited_at, deleted_at FROM posts WHERE uid = ?", "mastodon:a1"
    )
    assert text == "first words"  # the post row is the version first collected
    assert as_time(edited_at) == T0 + timedelta(seconds=30)
    assert as_time(deleted_at) == T0 + timedelta(seconds=60)
    versions = await rows(
        store, "SELECT text, lang, sha256, raw FROM post_versions WHERE uid = ?", "mastodon:a1"
    )
    assert [(v[0], v[1], v[2]) for v in versions] == [
        ("edited words", "en", edit.provenance.sha256)
    ]
    assert bytes(versions[0][3]) == bytes(edit.raw)  # type: ignore[call-overload]
    assert await rows(store, "SELECT count(*) FROM deletions") == [(1,)]


async def test_a_deletion_before_its_post_still_marks_it(store: Store) -> None:
    await store.write_deletions([deletion("b2", at=5)])
    await store.write([enriched(toot("b2", "late post"))])
    [(deleted_at,)] = await rows(store, "SELECT deleted_at FROM posts WHERE uid = ?", "mastodon:b2")
    assert as_time(deleted_at) == T0 + timedelta(seconds=5)


async def test_an_originals_amplification_does_not_depend_on_what_was_stored_first(
    store: Store,
) -> None:
    original = enriched(post("o1", "the original"))
    reposts = [
        msgspec.structs.replace(enriched(post(f"r{i}", "RT", retweet_of="o1")), amplification=i)
        for i in (1, 2, 3)
    ]
    await store.write(reposts[:2])  # reposts stored before their original (other partitions)
    await store.write([original])
    await store.write(reposts[2:])
    assert await rows(store, "SELECT amplification FROM posts WHERE uid = ?", "x:o1") == [(3,)]
