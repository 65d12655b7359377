"""A post's embed to Post v1 media, links and its quote.

Records carry blobs (a CID and a MIME type), not addresses: a photo's URL is built on Bluesky's
image CDN (``cdn.bsky.app/img/feed_fullsize/plain/<did>/<cid>@jpeg``, as the appview serves
it) and a video's on its video CDN (``video.bsky.app/watch/<did>/<cid>/playlist.m3u8``, HLS).
A post view (``searchPosts``, ``getPosts``) says its addresses itself, and those win. The blob's
CID is the media key: content-addressed, so the same file posted twice has the same key.
``aspectRatio`` fills width and height: Bluesky clients write the pixel size there, but the
lexicon only promises the ratio. Bluesky gives no video duration. A GIF is a link to a ``.gif``
(the app's GIF picker) or a video presented as one (``presentation: "gif"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeGuard
from urllib.parse import quote, urlsplit

from agents.bluesky.aturi import POST, AtUri
from agents.payloads import MappingError
from schemas.post import Media, MediaType

Json = dict[str, Any]

IMAGES = "app.bsky.embed.images"
VIDEO = "app.bsky.embed.video"
EXTERNAL = "app.bsky.embed.external"
RECORD = "app.bsky.embed.record"
RECORD_WITH_MEDIA = "app.bsky.embed.recordWithMedia"


@dataclass(slots=True)
class Embedded:
    media: list[Media] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    quote: str | None = None  # the uid of the quoted post


def embedded(embed: object, did: str, view: object = None) -> Embedded:
    """What ``embed`` (a record's) holds; ``view`` is the same embed as a post view shows it."""
    out = Embedded()
    _read(embed, did, view if isinstance(view, dict) else {}, out)
    return out


def _kind(obj: Json) -> str:
    kind = obj.get("$type")
    return kind.split("#", 1)[0] if isinstance(kind, str) else ""


def _read(embed: object, did: str, view: Json, out: Embedded) -> None:
    if not isinstance(embed, dict):
        return
    kind = _kind(embed)
    if kind == IMAGES:
        images = _list(embed.get("images"))
        shown = _list(view.get("images"))
        for i, image in enumerate(images):
            if isinstance(image, dict):
                item = _image(image, did, _at(shown, i))
                if item is not None:
                    out.media.append(item)
    elif kind == VIDEO:
        item = _video(embed, did, view)
        if item is not None:
            out.media.append(item)
    elif kind == EXTERNAL:
        external = embed.get("external")
        uri = external.get("uri") if isinstance(external, dict) else None
        if isinstance(uri, str) and uri.startswith(("https://", "http://")):
            out.urls.append(uri)
            if urlsplit(uri).path.lower().endswith(".gif"):  # Bluesky's GIF picker (Tenor)
                out.media.append(Media(key=uri, type="animated_gif", url=uri))
    elif kind == RECORD:
        out.quote = _quoted(embed.get("record"))
    elif kind == RECORD_WITH_MEDIA:
        out.quote = _quoted(_dict(embed.get("record")).get("record"))
        _read(embed.get("media"), did, _dict(view.get("media")), out)


def _quoted(ref: object) -> str | None:
    """A quote is an embedded strong ref to a post; feeds, lists and the like are not quotes."""
    if not isinstance(ref, dict):
        return None
    try:
        uri = AtUri.parse(ref.get("uri"))
    except MappingError:
        return None
    return uri.uid if uri.collection == POST else None


def blob_cid(blob: object) -> str | None:
    """A blob's CID: ``{"ref": {"$link": cid}}``, or the legacy ``{"cid": cid}``."""
    if not isinstance(blob, dict):
        return None
    ref = blob.get("ref")
    cid = ref.get("$link") if isinstance(ref, dict) else blob.get("cid")
    return cid if isinstance(cid, str) and 0 < len(cid) <= 200 and cid.isalnum() else None


def _image(image: Json, did: str, shown: Json) -> Media | None:
    cid = blob_cid(image.get("image"))
    if cid is None:
        return None
    width, height = _ratio(image.get("aspectRatio"))
    cdn = f"https://cdn.bsky.app/img/{{}}/plain/{did}/{cid}@jpeg"
    return Media(
        key=cid,
        type="photo",
        url=_url(shown.get("fullsize")) or cdn.format("feed_fullsize"),
        preview_url=_url(shown.get("thumb")) or cdn.format("feed_thumbnail"),
        width=width,
        height=height,
        alt_text=_alt(image.get("alt")),
    )


def _video(embed: Json, did: str, shown: Json) -> Media | None:
    blob = embed.get("video")
    cid = blob_cid(blob)
    if cid is None:
        return None
    # Clients post a short looping video with ``presentation: "gif"``: shown as a GIF.
    kind: MediaType = "animated_gif" if embed.get("presentation") == "gif" else "video"
    width, height = _ratio(embed.get("aspectRatio"))
    watch = f"https://video.bsky.app/watch/{quote(did, safe='')}/{cid}"
    return Media(
        key=cid,
        type=kind,
        url=_url(shown.get("playlist")) or f"{watch}/playlist.m3u8",
        preview_url=_url(shown.get("thumbnail")) or f"{watch}/thumbnail.jpg",
        width=width,
        height=height,
        alt_text=_alt(embed.get("alt")),
    )


def _ratio(value: object) -> tuple[int | None, int | None]:
    if not isinstance(value, dict):
        return None, None
    width, height = value.get("width"), value.get("height")
    if _size(width) and _size(height):
        return width, height
    return None, None


def _size(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31


def _alt(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _url(value: object) -> str | None:
    return value if isinstance(value, str) and value.startswith(("https://", "http://")) else None


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: object) -> Json:
    return value if isinstance(value, dict) else {}


def _at(items: list[Any], i: int) -> Json:
    return items[i] if i < len(items) and isinstance(items[i], dict) else {}
