"""AT URIs of Bluesky records: ``at://<did>/<collection>/<rkey>``, and their web addresses."""

from __future__ import annotations

import re
from dataclasses import dataclass

from agents.payloads import MappingError

POST = "app.bsky.feed.post"
REPOST = "app.bsky.feed.repost"

# A DID (did:plc:…, did:web:…) or a handle as the authority, an NSID, a record key.
_AUTHORITY = re.compile(r"^(did:[a-z]+:[A-Za-z0-9._:%-]{1,2048}|[A-Za-z0-9.-]{1,253})$")
_NSID = re.compile(r"^[A-Za-z][A-Za-z0-9-]*(\.[A-Za-z0-9-]+){2,}$")
_RKEY = re.compile(r"^[A-Za-z0-9._:~-]{1,512}$")


@dataclass(frozen=True, slots=True)
class AtUri:
    did: str
    collection: str
    rkey: str

    @classmethod
    def parse(cls, uri: object) -> AtUri:
        if not isinstance(uri, str) or not uri.startswith("at://"):
            raise MappingError(f"not an AT URI: {uri!r:.200}")
        parts = uri[len("at://") :].split("/")
        if len(parts) != 3:
            raise MappingError(f"not a record's AT URI: {uri!r:.200}")
        return cls.of(*parts)

    @classmethod
    def of(cls, did: object, collection: object, rkey: object) -> AtUri:
        """The record ``rkey`` of ``collection`` in ``did``'s repository, each part checked."""
        if not isinstance(did, str) or not _AUTHORITY.match(did):
            raise MappingError(f"not a DID: {did!r:.200}")
        if not isinstance(collection, str) or not _NSID.match(collection):
            raise MappingError(f"not a collection NSID: {collection!r:.200}")
        if not isinstance(rkey, str) or not _RKEY.match(rkey) or rkey in (".", ".."):
            raise MappingError(f"not a record key: {rkey!r:.200}")
        return cls(did, collection, rkey)

    def __str__(self) -> str:
        return f"at://{self.did}/{self.collection}/{self.rkey}"

    @property
    def uid(self) -> str:
        """Post v1's uid: one record, one uid, whoever served it."""
        return f"bluesky:{self}"

    @property
    def web_url(self) -> str | None:
        """The post's page on bsky.app (reposts and other records have none)."""
        if self.collection != POST:
            return None
        return f"https://bsky.app/profile/{self.did}/post/{self.rkey}"
