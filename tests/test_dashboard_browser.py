"""The dashboard page in a real headless Chromium, against a running pipeline.

Debian's ``chromium`` driven by Playwright (``playwright install`` is never needed: the
browser is the system one). A seeded synthetic campaign spread over the last hour, plus a
post whose text carries a script tag and an Arabic post, go through broker, worker and
store while the page is open; the page must show the store's numbers, render the hostile
text as text, lay Arabic out right to left, and leave a screenshot in test-artifacts/.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from playwright.async_api import Browser, Page, async_playwright

from agents.publisher import KafkaPublisher
from agents.synth.collector import SynthConfig, SynthStream
from pipeline.core.broker import EmbeddedBroker
from pipeline.core.hashtags import normalize_hashtag
from pipeline.core.settings import Settings
from pipeline.dashboard import serve_dashboard
from pipeline.session import session
from schemas import testing
from schemas.alert import Alert
from schemas.codec import encode
from schemas.gap import Gap
from schemas.post import Hashtag, Post

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parent.parent
SCREENSHOT = REPO / "test-artifacts" / "dashboard.png"
XSS_TEXT = "<script>window.pwned=1</script> أين المعتقلين"
IMG_TEXT = '<img src=x onerror="window.pwned=2"> where are the detainees?'
ARABIC_TEXT = "أين المعتقلين في السجون السورية؟ لن ننساهم #وين_المعتقلين"
CAMPAIGN_POSTS = 450

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="/usr/bin/chromium is missing: apt-get install -y chromium (CI installs it)",
    ),
]
_prefixes = itertools.count()


def handmade(uid_id: str, text: str, at: datetime, lang: str) -> Post:
    tags = [w[1:] for w in text.split() if w.startswith("#")]
    return testing.post(
        uid_id,
        text,
        created_at=at,
        author="u-activist",
        handle="activist",
        name="ناشطة",
        url=f"https://x.example/activist/{uid_id}",
        hashtags=[Hashtag(tag=t, normalized=normalize_hashtag(t)) for t in tags],
        platform_lang=lang,
        raw=b'{"synthetic": true}',
    )


def campaign_posts(count: int) -> list[Post]:
    """The seeded synthetic campaign (languages, storms, copies, media), ending about now."""
    config = SynthConfig(seed=11, rate=0.14)
    campaign = SynthStream(config, start=datetime.now(UTC) - timedelta(minutes=58))
    return [campaign.next_post() for _ in range(count)]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()


async def number(page: Page, selector: str) -> int:
    text = await page.locator(selector).first.text_content() or ""
    digits = re.sub(r"[^\d]", "", text)
    assert digits, f"{selector} shows no number: {text!r}"
    return int(digits)


async def legend(page: Page, list_id: str) -> dict[str, int]:
    items = await page.locator(f"#{list_id} li[data-key]").evaluate_all(
        "els => els.map(e => [e.dataset.key, e.querySelector('.n').textContent])"
    )
    return {key: int(re.sub(r"[^\d]", "", n)) for key, n in items}


async def test_dashboard_page_in_chromium(
    broker: EmbeddedBroker, browser: Browser, tmp_path: Path
) -> None:
    await broker.wait_ready()
    settings = Settings(
        broker=broker.url,
        data_dir=tmp_path / "data",
        topic_prefix=f"dashb{next(_prefixes)}-{os.getpid()}",
        lang_backend="langdetect",
        batch_seconds=0.05,
    )
    async with session(settings) as s:
        dash = await serve_dashboard(settings, s.bootstrap, "127.0.0.1", 0)
        page = await browser.new_page(viewport={"width": 1440, "height": 1400})
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.on(
            "console",
            lambda msg: (
                problems.append(f"console {msg.type}: {msg.text}")
                if msg.type in ("error", "warning")
                else None
            ),
        )
        try:
            await page.goto(dash.url)
            await page.wait_for_selector("#status[data-state=live]", timeout=10_000)

            # the campaign arrives while the page is open: it updates live
            posts = campaign_posts(CAMPAIGN_POSTS)
            end = max(p.created_at for p in posts)
            special = [
                handmade("990000000000000001", ARABIC_TEXT, end + timedelta(seconds=5), "ar"),
                handmade("990000000000000002", IMG_TEXT, end + timedelta(seconds=6), "en"),
                handmade("990000000000000003", XSS_TEXT, end + timedelta(seconds=7), "ar"),
            ]
            publisher = KafkaPublisher(s.bootstrap, s.topics)
            await publisher.start()
            try:
                for post in posts:
                    await publisher.post(post)
                await publisher.flush()
                unique = len({p.uid for p in posts})
                await stored_count(s.store, unique)
                for post in special:  # last, so they head the feed
                    await publisher.post(post)
                await publisher.gap(
                    Gap(
                        id="x-stream:test",
                        collector="x-stream",
                        start=end - timedelta(minutes=20),
                        end=end - timedelta(minutes=12),
                        reason="HTTP 429 rate limit",
                        recovered=37,
                    )
                )
            finally:
                await publisher.stop()
            await stored_count(s.store, unique + len(special))
            await publish_alert(settings, s.topics.alerts, end)

            stored = await store_numbers(s.store)
            await page.wait_for_function(
                "n => document.getElementById('total-posts').textContent.replace(/\\D/g, '') == n",
                arg=str(stored["posts"]),
                timeout=15_000,
            )
            await page.wait_for_selector("#alerts li.alert", timeout=10_000)
            await page.wait_for_selector("#gaps tr", timeout=10_000)

            # the numbers on the page are the store's
            assert await number(page, "#total-posts") == stored["posts"]
            assert await number(page, "#total-reposts") == stored["reposts"]
            assert await number(page, "#total-originals") == stored["posts"] - stored["reposts"]
            assert await number(page, "#total-authors") == stored["authors"]
            assert await legend(page, "languages") == stored["languages"]
            assert await legend(page, "media-types") == stored["media"]
            assert await number(page, "#total-media") == stored["with_media"]

            # each platform's count, and the platform filter: counts, charts and feed follow it
            platforms = await s.store.query("SELECT platform, count(*) FROM posts GROUP BY 1")
            by_platform = dict(platforms)
            assert set(by_platform) == {"x", "mastodon", "bluesky"}  # the demo's three
            shown = await page.locator("#platforms button").evaluate_all(
                "els => els.map(e => [e.dataset.platform, e.querySelector('.n').textContent])"
            )
            assert {k: int(re.sub(r"[^\d]", "", n)) for k, n in shown} == {
                "all": stored["posts"],
                **by_platform,
            }
            await page.click("#platforms button[data-platform=bluesky]")
            await page.wait_for_function(
                "n => document.getElementById('total-posts').textContent.replace(/\\D/g, '') == n",
                arg=str(by_platform["bluesky"]),
                timeout=5_000,
            )
            bluesky = await store_numbers(s.store, "bluesky")
            assert await number(page, "#total-reposts") == bluesky["reposts"]
            assert await number(page, "#total-authors") == bluesky["authors"]
            assert await legend(page, "languages") == bluesky["languages"]
            assert await legend(page, "media-types") == bluesky["media"]
            pressed = page.locator("#platforms button[aria-pressed=true]")
            assert await pressed.get_attribute("data-platform") == "bluesky"
            await page.wait_for_function(  # the feed is re-drawn for the filter
                "() => { const u = [...document.querySelectorAll('#feed li.post')]"
                ".map(e => e.dataset.uid); return u.length > 0 && "
                "u.every(x => x.startsWith('bluesky:')); }",
                timeout=5_000,
            )
            await page.click("#platforms button[data-platform=all]")
            await page.wait_for_function(
                "n => document.getElementById('total-posts').textContent.replace(/\\D/g, '') == n",
                arg=str(stored["posts"]),
                timeout=5_000,
            )
            uids = await page.locator("#feed li.post").evaluate_all(
                "els => els.map(e => e.dataset.uid)"
            )
            assert {u.split(":", 1)[0] for u in uids} > {"x"}  # the feed mixes platforms again

            # hostile text is shown as text, and nothing ran
            feed = page.locator("#feed")
            xss = feed.locator("li.post[data-uid='x:990000000000000003'] .text")
            assert await xss.text_content() == XSS_TEXT
            assert await xss.is_visible()
            await page.get_by_text("<script>window.pwned=1</script>", exact=False).first.wait_for()
            img = feed.locator("li.post[data-uid='x:990000000000000002'] .text")
            assert await img.text_content() == IMG_TEXT
            assert await page.evaluate("typeof window.pwned") == "undefined"
            assert await page.locator("#feed script, #feed img").count() == 0

            # Arabic reads right to left; the Latin-led post stays left to right
            arabic = feed.locator("li.post[data-uid='x:990000000000000001'] .text")
            assert await arabic.get_attribute("dir") == "auto"
            assert await arabic.evaluate("e => getComputedStyle(e).direction") == "rtl"
            assert await arabic.evaluate("e => e.matches(':dir(rtl)')")
            assert await img.evaluate("e => getComputedStyle(e).direction") == "ltr"
            assert await feed.locator("li.post .text:not([dir=auto])").count() == 0
            # the bundled Arabic-script font loaded (offline machines may have none)
            assert await page.evaluate(
                """() => document.fonts.ready.then(() => [...document.fonts].some(
                    f => f.family.includes('hashwatch Naskh') && f.status === 'loaded'))"""
            )

            # charts drew from the locally served library
            assert await page.evaluate("typeof window.Chart") == "function"
            assert await page.locator("#chart-timeline").evaluate("c => c.width > 0")
            assert await page.locator("#campaign-tags .chip").count() > 0

            await page.evaluate("window.scrollTo(0, 0)")
            await asyncio.sleep(0.3)
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOT), full_page=True)
            assert SCREENSHOT.stat().st_size > 20_000
            assert not [p for p in problems if "Content Security Policy" in p or "error" in p], (
                problems
            )
        finally:
            await page.close()
            await dash.close()


async def stored_count(store: Any, expected: int, timeout: float = 30.0) -> None:
    """Wait until the pipeline stored ``expected`` unique posts (duplicates are dropped)."""
    async with asyncio.timeout(timeout):
        while True:
            [(n,)] = await store.query("SELECT count(*) FROM posts")
            if n >= expected:
                assert n == expected
                return
            await asyncio.sleep(0.1)


async def publish_alert(settings: Settings, topic: str, at: datetime) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers())
    await producer.start()
    try:
        alert = Alert(
            id="surge:browser-test",
            rule="surge",
            severity="critical",
            subject="all",
            summary="Volume surge: 4.1× the baseline in the last minute (#وين_المعتقلين)",
            window_start=at - timedelta(minutes=1),
            window_end=at,
            value=41,
            threshold=20,
            examples=["x:990000000000000001"],
            raised_at=at,
        )
        await producer.send_and_wait(topic, encode(alert), key=alert.id.encode())
    finally:
        await producer.stop()


async def store_numbers(store: Any, platform: str | None = None) -> dict[str, Any]:
    """What the store says, for all posts or one platform's."""
    where = f"WHERE p.platform = '{platform}'" if platform else ""
    [(posts, reposts, authors)] = await store.query(
        f"SELECT count(*), count(repost_of), count(DISTINCT author_id) FROM posts p {where}"
    )
    media = f"FROM media m JOIN posts p USING (uid) {where}"
    [(with_media,)] = await store.query(f"SELECT count(DISTINCT uid) {media}")
    return {
        "posts": posts,
        "reposts": reposts,
        "authors": authors,
        "with_media": with_media,
        "languages": dict(
            await store.query(f"SELECT lang, count(*) FROM posts p {where} GROUP BY 1")
        ),
        "media": dict(await store.query(f"SELECT m.type, count(*) {media} GROUP BY 1")),
    }
