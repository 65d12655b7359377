"""Copy-paste campaign detection: exact canonical keys, then MinHash-LSH for small edits.

Most campaign copies differ from their source only in mentions, emoji, punctuation,
hashtags, URLs and whitespace; ``canonical_text`` erases all of that so those copies
share one ``cluster_key`` with no index at all. ``NearDupIndex`` catches the rest (a word
added, dropped or mistyped) by mapping a new key onto a similar recent one. Its state is
in-memory and bounded; what a Faust table stores is only the small ``ClusterInfo``.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from hashlib import blake2b

import numpy as np

from pipeline.core.hashtags import fold_text

# Shorter canonical texts are slogans ("لن ننسى ولن نسامح") that unrelated users type
# identically; with 1-3 the bench merged such slogan posts, 4-6 cost no recall.
MIN_TOKENS = 5
MAX_CHECKS_PER_CLUSTER = 3
BUCKET_PER_CLUSTER = MAX_CHECKS_PER_CLUSTER  # members of one cluster an LSH bucket keeps
MAX_CANDIDATES = 24  # texts a new one is compared with, those sharing the most bands first

_RT = re.compile(r"^\s*rt\s+@\w+:?", re.IGNORECASE)
_NOISE = re.compile(
    r"(?:https?://|www\.)\S+"  # URLs
    r"|\b[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}/\S*"  # bare links such as t.co/xyz
    r"|@\w+"  # mentions
)
_HASHTAG = re.compile(r"#\w+")
_NON_WORD = re.compile(r"[\W_]+")


def canonical_text(text: str, *, keep_hashtags: bool = False) -> str:
    """Text with everything a copier changes removed, so copies compare equal.

    Hashtags are dropped by default: copiers add and drop them, so keeping them (sorted,
    ``keep_hashtags=True``) cut the copy pairs the exact key alone catches from about half
    to a third in the bench, and they are the tokens unrelated posts of a campaign share.
    """
    folded = _NOISE.sub(" ", _RT.sub(" ", fold_text(text)))
    tags = _HASHTAG.findall(folded)
    words = _NON_WORD.sub(" ", _HASHTAG.sub(" ", folded)).split()
    if keep_hashtags and tags:
        words += sorted({_NON_WORD.sub("", t) for t in tags})
    return " ".join(words)


def _key(canonical: str) -> str | None:
    if canonical.count(" ") + 1 < MIN_TOKENS:
        return None
    return blake2b(canonical.encode(), digest_size=8).hexdigest()


def keyed_canonical(text: str) -> tuple[str | None, str]:
    """``(cluster_key, canonical_text)`` with one canonicalization, for ``resolve``."""
    canonical = canonical_text(text)
    return _key(canonical), canonical


def cluster_key(text: str) -> str | None:
    """Stable 16-hex key of the canonical text; None when too short to call a copy."""
    return _key(canonical_text(text))


def word_shingles(canonical: str) -> Iterable[str]:
    """Single words: a one-word edit costs two of ~20 shingles, not four as with bigrams."""
    return canonical.split()


class _Entry:
    __slots__ = ("bands", "cluster", "tokens", "ts")

    def __init__(self, cluster: str, ts: float, tokens: bytes, bands: bytes) -> None:
        self.cluster = cluster
        self.ts = ts
        self.tokens = tokens  # sorted unique uint32 shingle hashes, for exact Jaccard
        self.bands = bands  # uint64 band hashes, to unlink the entry when it leaves


class Signer:
    """MinHash-LSH signatures of canonical texts: shingle hashes and band hashes.

    Fixed parameters (seeded), so a signature computed by any worker matches the index's.
    """

    def __init__(
        self,
        bands: int = 16,
        rows: int = 4,
        seed: int = 1,
        shingles: Callable[[str], Iterable[str]] = word_shingles,
    ) -> None:
        self.bands = bands
        self.rows = rows
        self._shingles = shingles
        rng = np.random.default_rng(seed)
        top = np.iinfo(np.uint64).max
        num_perm = bands * rows
        self._a = rng.integers(1, top, size=num_perm, dtype=np.uint64, endpoint=True) | 1
        self._b = rng.integers(0, top, size=num_perm, dtype=np.uint64, endpoint=True)
        self._mix = rng.integers(1, top, size=rows, dtype=np.uint64, endpoint=True) | 1

    def tokens(self, canonical: str) -> np.ndarray:
        crcs = {zlib.crc32(s.encode()) for s in self._shingles(canonical)}
        return np.array(sorted(crcs), dtype=np.uint32)

    def band_hashes(self, hashes: np.ndarray) -> np.ndarray:
        # Multiply-shift universal hashing stands in for permutations: one numpy pass.
        sig = ((hashes.astype(np.uint64)[:, None] * self._a + self._b) >> np.uint64(32)).min(0)
        return (sig.reshape(self.bands, self.rows) * self._mix).sum(axis=1, dtype=np.uint64)

    def sign(self, canonical: str) -> tuple[bytes, bytes]:
        """``(tokens, bands)`` as bytes: uint32 shingle hashes, uint64 band hashes."""
        hashes = self.tokens(canonical)
        if not len(hashes):
            return b"", b""
        return hashes.tobytes(), self.band_hashes(hashes).tobytes()


SIGNER = Signer()


class NearDupIndex:
    """Maps a canonical text to the cluster of a near-identical one seen in the window.

    MinHash-LSH proposes candidates; the exact Jaccard of shingle-hash sets decides, so
    MinHash noise costs recall only, never precision. Entries live in last-touch order:
    expiry and the ``max_entries`` bound both drop the least recently seen first. Fed the
    same texts in the same order it gives the same answers in any process: candidates are
    checked in sorted order, never in a set's hash order.
    """

    def __init__(
        self,
        *,
        window_s: float = 6 * 3600.0,
        max_entries: int = 50_000,
        threshold: float = 0.7,
        signer: Signer = SIGNER,
    ) -> None:
        self.window_s = window_s
        self.max_entries = max_entries
        self.threshold = threshold
        self.signer = signer
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        # A bucket holds a bare key until it is shared: most buckets never are.
        self._tables: list[dict[int, str | list[str]]] = [{} for _ in range(signer.bands)]

    def __len__(self) -> int:
        return len(self._entries)

    def resolve(self, key: str, canonical: str, ts: float) -> str:
        """Cluster id for a post with this key: an existing near-identical one, or ``key``."""
        tokens, bands = self.signer.sign(canonical)
        return self.resolve_signed(key, tokens, bands, ts)

    def resolve_signed(self, key: str, tokens: bytes, bands: bytes, ts: float) -> str:
        """``resolve`` with the signature computed elsewhere (by the enrich stage).

        Registers the post so later copies of it (or of its variant) find the cluster.
        """
        self.expire(ts - self.window_s)
        entry = self._entries.get(key)
        if entry is not None:
            entry.ts = max(entry.ts, ts)
            self._entries.move_to_end(key)
            return entry.cluster
        if not tokens:
            return key
        band_list = np.frombuffer(bands, np.uint64).tolist()
        shared: Counter[str] = Counter()  # candidate -> bands it shares with this text
        for table, h in zip(self._tables, band_list, strict=True):
            if (bucket := table.get(h)) is not None:
                shared.update((bucket,) if isinstance(bucket, str) else bucket)
        cluster, best = key, self.threshold
        if shared:
            mine = set(np.frombuffer(tokens, np.uint32).tolist())
            # A popular cluster fills the buckets with its members; a few of each suffice to
            # decide, which keeps the cost per post flat while a copy-paste burst grows. And
            # the candidates sharing the most bands first, at most MAX_CANDIDATES: a text
            # like many others of the window (a campaign's vocabulary is small) would
            # otherwise be checked against more of them the longer the window
            # (18 -> 68 us a post over 30 k synthetic originals).
            checked: dict[str, int] = {}
            ranked = sorted(shared, key=lambda k: (-shared[k], k))[:MAX_CANDIDATES]
            for cand in ranked:
                other = self._entries[cand]
                if checked.get(other.cluster, 0) >= MAX_CHECKS_PER_CLUSTER:
                    continue
                checked[other.cluster] = checked.get(other.cluster, 0) + 1
                common = len(mine.intersection(memoryview(other.tokens).cast("I")))
                sim = common / (len(mine) + len(other.tokens) // 4 - common)
                if sim > best or (sim == best and other.cluster < cluster):
                    cluster, best = other.cluster, sim
        self._entries[key] = _Entry(cluster, ts, tokens, bands)
        for table, h in zip(self._tables, band_list, strict=True):
            bucket = table.setdefault(h, key)
            if bucket is key:
                continue
            members = [bucket] if isinstance(bucket, str) else bucket
            # A bucket keeps a few members of each cluster, no more: only that many are ever
            # checked, and a copy-paste burst would otherwise grow the buckets its variants
            # share, and the cost of every post after it (18 -> 93 us a post over 30 k).
            if sum(self._entries[m].cluster == cluster for m in members) >= BUCKET_PER_CLUSTER:
                continue
            if isinstance(bucket, list):
                bucket.append(key)
            else:
                table[h] = [bucket, key]
        while len(self._entries) > self.max_entries:
            self._drop_oldest()
        return cluster

    def expire(self, before_ts: float) -> int:
        """Drop entries last seen before ``before_ts``; returns how many were dropped."""
        dropped = 0
        while self._entries and next(iter(self._entries.values())).ts < before_ts:
            self._drop_oldest()
            dropped += 1
        return dropped

    def _drop_oldest(self) -> None:
        key, entry = self._entries.popitem(last=False)
        bands = np.frombuffer(entry.bands, np.uint64).tolist()
        for table, h in zip(self._tables, bands, strict=True):
            bucket = table.get(h)
            if isinstance(bucket, list):
                if key in bucket:  # (a bucket may have had its cluster's share already)
                    bucket.remove(key)
                    if len(bucket) == 1:
                        table[h] = bucket[0]
            elif bucket == key:
                del table[h]

    def assign(self, text: str, ts: float) -> str | None:
        """Cluster id of a raw post, or None when it is too short to call a copy."""
        key, canonical = keyed_canonical(text)
        return None if key is None else self.resolve(key, canonical, ts)
