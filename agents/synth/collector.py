"""A seeded synthetic campaign, for the demo, tests and benchmarks.

Arabic-heavy with English, Turkish and a few other languages; retweet storms around a few
originals, copy-paste bursts, photos and videos, quiet and surge periods, and the occasional
redelivered duplicate, so every stage of the pipeline has something to do. Same seed, same
campaign, post for post.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec

from agents.base import Collector
from agents.publisher import Publisher
from agents.synth.text import LANGUAGE_WEIGHTS, copy_variant, original_text, slogan_text
from pipeline import __version__
from pipeline.core.hashtags import normalize_hashtag
from schemas.codec import encode
from schemas.post import (
    Author,
    Hashtag,
    Media,
    MediaVariant,
    Platform,
    Post,
    Provenance,
    Reference,
)

# (name, seconds, rate multiplier): the cycle the campaign's pace follows.
PHASES: tuple[tuple[str, float, float], ...] = (
    ("normal", 180.0, 1.0),
    ("surge", 60.0, 4.0),
    ("quiet", 120.0, 0.3),
)
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_PLATFORMS: tuple[tuple[Platform, float], ...] = (
    ("x", 0.85),
    ("mastodon", 0.10),
    ("bluesky", 0.05),
)
_HASHTAG = "#"


Phases = tuple[tuple[str, float, float], ...]


def phase_at(offset_s: float, phases: Phases = PHASES) -> tuple[str, float]:
    cycle = sum(p[1] for p in phases)
    t = offset_s % cycle
    for name, length, multiplier in phases:
        if t < length:
            return name, multiplier
        t -= length
    return phases[-1][0], phases[-1][2]


@dataclass
class SynthConfig:
    seed: int = 7
    rate: float = 200.0  # mean posts per second of campaign time, before phase multipliers
    authors: int = 2000
    duplicate_rate: float = 0.02  # re-sent posts, as a flaky collector would
    phases: Phases = PHASES


class SynthStream:
    """Generates posts in event-time order; ``start`` is the first post's created_at."""

    def __init__(self, config: SynthConfig, start: datetime = EPOCH) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.start = start
        self.clock = 0.0  # campaign seconds since start
        self._next_id = 1_000_000
        self._recent: list[Post] = []  # originals that can be retweeted
        self._viral: Post | None = None
        self._template: str | None = None
        self._template_media: list[Media] = []
        self._sent: list[Post] = []
        self._platforms = ([p for p, _ in _PLATFORMS], [w for _, w in _PLATFORMS])
        langs = list(LANGUAGE_WEIGHTS)
        self._langs = (langs, [LANGUAGE_WEIGHTS[lang] for lang in langs])
        self._provenance = Provenance(
            collector="synth",
            version=__version__,
            retrieved_at=datetime.now(UTC),
            source=f"synth:seed={config.seed}",
        )

    def __iter__(self) -> Iterator[Post]:
        while True:
            yield self.next_post()

    def next_post(self) -> Post:
        rng = self.rng
        _, multiplier = phase_at(self.clock, self.config.phases)
        self.clock += rng.expovariate(self.config.rate * multiplier)
        if self._sent and rng.random() < self.config.duplicate_rate:
            return rng.choice(self._sent[-500:])
        roll = rng.random()
        if self._recent and roll < 0.45:
            post = self._retweet()
        elif roll < 0.60:
            post = self._copy()
        else:
            post = self._original()
        self._sent.append(post)
        if len(self._sent) > 5000:
            del self._sent[:1000]
        return post

    def _when(self) -> datetime:
        return self.start + timedelta(seconds=self.clock)

    def _new_id(self, platform: str) -> str:
        self._next_id += self.rng.randint(1, 50)
        if platform == "bluesky":
            return f"3k{self._next_id:x}"
        return str(self._next_id)

    def _author(self) -> Author:
        n = int(self.rng.paretovariate(1.2)) % self.config.authors  # a few very active accounts
        return Author(id=f"u{n}", handle=f"user_{n}", name=f"User {n}")

    def _media(self) -> list[Media]:
        rng = self.rng
        roll = rng.random()
        key = f"m{self._next_id}"
        if roll < 0.25:
            return [
                Media(
                    key=f"{key}_{i}",
                    type="photo",
                    url=f"https://media.example/{key}_{i}.jpg",
                    alt_text=("صورة المعتقل" if rng.random() < 0.3 else None),
                )
                for i in range(rng.choice((1, 1, 1, 2, 4)))
            ]
        if roll < 0.35:
            duration = rng.randint(5_000, 180_000)
            variants = [
                MediaVariant(
                    url=f"https://video.example/{key}/{b}.mp4", content_type="video/mp4", bit_rate=b
                )
                for b in (256_000, 832_000, 2_176_000)
            ]
            return [
                Media(
                    key=key,
                    type="video",
                    duration_ms=duration,
                    variants=variants,
                    preview_url=f"https://video.example/{key}.jpg",
                )
            ]
        if roll < 0.38:
            return [
                Media(
                    key=key,
                    type="animated_gif",
                    variants=[
                        MediaVariant(
                            url=f"https://video.example/{key}.mp4",
                            content_type="video/mp4",
                            bit_rate=0,
                        )
                    ],
                )
            ]
        return []

    def _post(
        self,
        text: str,
        media: list[Media],
        refs: list[Reference],
        lang: str,
        platform: Platform | None = None,
    ) -> Post:
        """``platform`` is given for a retweet: it lives where its original does."""
        platform = platform or self.rng.choices(*self._platforms)[0]
        post_id = self._new_id(platform)
        author = self._author()
        tags = [w[1:].rstrip(".,!?:؛،") for w in text.split() if w.startswith(_HASHTAG)]
        created = self._when()
        raw = {
            "synthetic": True,
            "platform": platform,
            "id": post_id,
            "text": text,
            "created_at": created.isoformat(),
            "author": author.handle,
            "lang": lang,
        }
        payload = encode(raw)
        return Post(
            uid=f"{platform}:{post_id}",
            platform=platform,
            id=post_id,
            url=f"https://{platform}.example/{author.handle}/{post_id}",
            author=author,
            created_at=created,
            text=text,
            hashtags=[Hashtag(tag=t, normalized=normalize_hashtag(t)) for t in tags if t],
            mentions=[w[1:] for w in text.split() if w.startswith("@") and len(w) > 1],
            media=media,
            references=refs,
            platform_lang=lang,
            possibly_sensitive=bool(media) and self.rng.random() < 0.1,
            provenance=self._provenance.of(payload),
            raw=msgspec.Raw(payload),
        )

    def _pick_lang(self) -> str:
        return self.rng.choices(*self._langs)[0]

    def _original(self) -> Post:
        lang = self._pick_lang()
        text = (
            slogan_text(self.rng, lang)
            if self.rng.random() < 0.1
            else original_text(self.rng, lang)
        )
        post = self._post(text, self._media(), [], lang)
        self._recent.append(post)
        if len(self._recent) > 200:
            del self._recent[:50]
        if self._viral is None or self.rng.random() < 0.05:
            self._viral = post  # the next retweet storm forms around it
        return post

    def _retweet(self) -> Post:
        rng = self.rng
        assert self._recent
        original = self._viral if (self._viral and rng.random() < 0.7) else rng.choice(self._recent)
        ref = Reference(type="retweet", uid=original.uid)
        lang = original.platform_lang or "und"
        return self._post(original.text, list(original.media), [ref], lang, original.platform)

    def _copy(self) -> Post:
        rng = self.rng
        if self._template is None or rng.random() < 0.08:
            self._template = original_text(rng, self._pick_lang())
            self._template_media = self._media()
        lang = self._pick_lang()
        # Copy-paste campaigns pass the same photo or video around as often as the same words.
        media = self._template_media if rng.random() < 0.5 else self._media()
        return self._post(copy_variant(self._template, rng), list(media), [], lang)


class SynthCollector(Collector):
    """Publishes a campaign live (created_at = now) or as fast as possible (campaign time)."""

    name = "synth"

    def __init__(
        self,
        publisher: Publisher,
        config: SynthConfig,
        *,
        count: int | None = None,
        duration: float | None = None,
        live: bool = True,
    ) -> None:
        super().__init__(publisher)
        self.config = config
        self.count = count
        self.duration = duration
        self.live = live

    async def collect(self) -> None:
        campaign = SynthStream(self.config, start=datetime.now(UTC) if self.live else EPOCH)
        began = time.monotonic()
        while self.running:
            if self.count is not None and self.stats.read >= self.count:
                return
            if self.duration is not None and time.monotonic() - began >= self.duration:
                return
            post = campaign.next_post()
            self.stats.read += 1
            if self.live:
                delay = began + campaign.clock - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                stamped = self.provenance(post.provenance.source).of(bytes(post.raw))
                post = msgspec.structs.replace(post, provenance=stamped)
            elif self.stats.read % 500 == 0:
                await asyncio.sleep(0)
            await self.emit(post)
