"""The enrich stage in a child process: the same results as in the worker's own, records cut
to the broker's limit, a dead child replaced, and results published in the order read."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest

from pipeline.core.records import InRecord
from pipeline.core.topics import Topics
from pipeline.enrich.enricher import Enricher
from pipeline.enrich.facts import FactBatch, decoder, encode_batch, encode_facts, encoder
from pipeline.enrich.shipment import Shipment, header_room, ship
from pipeline.stages.enrich_process import EnrichProcess, EnrichSpec
from pipeline.stages.outbox import Outbox
from pipeline.testing import ScriptedDetector
from schemas.codec import decode, encode
from schemas.deadletter import DeadLetter
from schemas.testing import post

T = Topics("t")
ROOT = Path(__file__).resolve().parents[1]
TEXTS = [
    "أين المعتقلين في سجون النظام؟ عائلاتهم تنتظر منذ سنوات",
    "Where are the detainees of Saydnaya? Their families have waited for years",
    "Tutuklular nerede? Aileleri yıllardır bekliyor",
]


def spec(max_record_bytes: int = 1_000_000) -> EnrichSpec:
    return EnrichSpec(
        topic_prefix="t",
        backend="fasttext",
        languages=(),
        watch=("saydnaya",),
        max_clock_skew_s=600.0,
        max_record_bytes=max_record_bytes,
    )


def records(n: int, text_bytes: int = 0) -> list[InRecord]:
    out = []
    for i in range(n):
        p = post(1000 + i, TEXTS[i % 3] + " " + "x" * text_bytes, hashtags=["detainees"])
        out.append(InRecord(T.raw, i % 4, i, p.uid.encode(), encode(p)))
    out.append(InRecord(T.raw, 0, n, b"bad", b"{not json"))  # a dead letter too
    return out


def facts_of(shipped: Shipment) -> list[tuple[str, str, str | None]]:
    header = FactBatch(worker="w")
    return [
        (f.uid, f.lang, f.cluster_key)
        for chunk in shipped.chunks
        for f in decoder.decode(encode_batch(header, chunk)).facts
    ]


def test_a_batch_spliced_from_encoded_facts_is_the_batch_encoded_whole() -> None:
    shipped = ship(spec().build(), records(5), 1_000_000)
    facts = decoder.decode(encode_batch(FactBatch(worker="w"), shipped.chunks[0])).facts
    header = FactBatch(worker="w", sent_at=1.5, marks={0: 2.0}, quiet=[1], empty=[2])
    whole = encoder.encode(msgspec.structs.replace(header, facts=facts))
    assert encode_batch(header, encode_facts(facts)) == whole


def test_facts_are_cut_into_records_within_the_limit_and_a_giant_is_dead_lettered() -> None:
    limit = 20_000
    batch = records(30, text_bytes=1_500)
    giant = post(9, "x" * 30_000)
    batch.append(InRecord(T.raw, 3, 99, giant.uid.encode(), encode(giant)))

    shipped = ship(spec(limit).build(), batch, limit)

    assert len(shipped.chunks) > 1
    header = FactBatch(worker="w" * 40, marks=dict.fromkeys(range(64), 1e9), quiet=[*range(64)])
    assert all(len(encode_batch(header, c)) <= limit for c in shipped.chunks)
    assert all(len(c) <= limit - header_room(limit) for c in shipped.chunks)
    assert [uid for uid, _, _ in facts_of(shipped)] == [f"x:{1000 + i}" for i in range(30)]
    letters = {decode(r.value or b"", DeadLetter).reason: r.key for r in shipped.letters}
    assert letters == {"invalid-json": b"bad", "too-large": b"x:9"}
    assert shipped.dead_lettered["too-large"] == 1
    assert shipped.raw_consumed == 32 and shipped.facts_sent == 30
    assert any("over the record limit" in r.getMessage() for r in shipped.logs)


async def test_a_child_process_gives_what_the_worker_s_own_process_gives() -> None:
    batch = records(40)
    local, child = EnrichProcess(spec(), processes=0), EnrichProcess(spec(), processes=1)
    await asyncio.gather(local.start(), child.start())
    try:
        here, there = await local.run(batch), await child.run(batch)
    finally:
        await asyncio.gather(local.close(), child.close())
    assert facts_of(there) == facts_of(here) and len(facts_of(here)) == 40
    assert {lang for _, lang, _ in facts_of(there)} == {"ar", "en", "tr"}
    letter = [decode(r.value or b"", DeadLetter) for r in (*there.letters, *here.letters)]
    assert len(letter) == 2 and letter[0].reason == letter[1].reason == "invalid-json"
    assert letter[0].original == letter[1].original == b"{not json"
    assert there.marks == here.marks
    assert (there.raw_consumed, there.facts_sent) == (41, 40)
    assert there.dead_lettered == here.dead_lettered and sum(there.dead_lettered.values()) == 1


async def test_the_child_s_warnings_reach_the_worker_s_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    child = EnrichProcess(spec(), processes=1)
    await child.start()
    try:
        shipped = await child.run(records(1))
    finally:
        await child.close()
    with caplog.at_level(logging.WARNING):
        shipped.relay_logs()
    assert any(
        r.name == "pipeline.enrich.enricher" and "dead-lettered" in r.getMessage()
        for r in caplog.records
    )


async def test_a_killed_child_is_replaced_and_the_batch_done(
    caplog: pytest.LogCaptureFixture,
) -> None:
    child = EnrichProcess(spec(), processes=1)
    await child.start()
    try:
        for pid in list(child._pool._processes):  # type: ignore[union-attr]
            os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(0.5)  # the pool notices its child is gone
        shipped = await child.run(records(6))
    finally:
        await child.close()
    assert len(facts_of(shipped)) == 6
    assert "the enrich process died" in caplog.text


async def test_results_are_handled_in_the_order_put_whatever_order_they_finish_in() -> None:
    handled: list[int] = []

    async def handle(n: int) -> None:
        handled.append(n)

    async def fails(exc: BaseException) -> None:
        raise AssertionError(f"no job fails here: {exc}")

    async def job(n: int, delay: float) -> int:
        await asyncio.sleep(delay)
        return n

    box: Outbox[int] = Outbox(handle, on_error=fails, depth=8)
    for n, delay in enumerate([0.2, 0.0, 0.1, 0.0, 0.05]):
        await box.put(job(n, delay))
    assert handled == [] and not box.idle()
    await box.settled()
    assert handled == [0, 1, 2, 3, 4] and box.idle()


async def test_after_a_failed_job_nothing_later_is_handled_and_put_raises() -> None:
    handled: list[int] = []
    errors: list[BaseException] = []

    async def handle(n: int) -> None:
        if n == 1:
            raise OSError("broker gone")
        handled.append(n)

    async def failed(exc: BaseException) -> None:
        errors.append(exc)

    async def job(n: int) -> int:
        return n

    box: Outbox[int] = Outbox(handle, on_error=failed, depth=8)
    for n in range(3):
        await box.put(job(n))
    with pytest.raises(OSError):
        await box.settled()
    assert handled == [0] and [str(e) for e in errors] == ["broker gone"]
    with pytest.raises(RuntimeError, match="could not be published"):
        await box.put(job(3))


async def test_put_waits_while_depth_jobs_are_outstanding() -> None:
    release = asyncio.Event()

    async def handle(n: int) -> None:
        await release.wait()

    async def failed(exc: BaseException) -> None:
        raise AssertionError(exc)

    async def job(n: int) -> int:
        return n

    box: Outbox[int] = Outbox(handle, on_error=failed, depth=2)
    await box.put(job(0))
    await box.put(job(1))
    third = asyncio.ensure_future(box.put(job(2)))
    await asyncio.sleep(0.05)
    assert not third.done()  # back-pressure: the agent stops taking batches
    release.set()
    await third
    await box.settled()


POISON = "☠ this post kills the enrich process"


def _dies_on_poison(text: str) -> str:
    if POISON in text:
        os._exit(1)  # what a crash in a native library does to the process
    return "en"


@dataclass(frozen=True)
class PoisonSpec(EnrichSpec):
    """The stage with a detector that kills its process on one text (a native crash on some
    input cannot be had on demand)."""

    def build(self) -> Enricher:
        return Enricher(Topics(self.topic_prefix), ScriptedDetector(_dies_on_poison))


async def test_the_post_a_child_dies_on_is_dead_lettered_and_the_rest_enriched(
    caplog: pytest.LogCaptureFixture,
) -> None:
    batch = records(40)
    poisoned = post(77, POISON)
    batch.insert(13, InRecord(T.raw, 2, 77, poisoned.uid.encode(), encode(poisoned)))
    child = EnrichProcess(PoisonSpec(**spec().__dict__), processes=1)
    await child.start()
    try:
        shipped, again = await asyncio.gather(child.run(batch), child.run(records(5)))
        after = await child.run(records(3))  # the stage goes on
    finally:
        await child.close()

    assert [uid for uid, _, _ in facts_of(shipped)] == [f"x:{1000 + i}" for i in range(40)]
    letters = [decode(r.value or b"", DeadLetter) for r in shipped.letters]
    assert sorted(d.reason for d in letters) == ["enrich-crashed", "invalid-json"]
    [crashed] = [d for d in letters if d.reason == "enrich-crashed"]
    assert crashed.key == "x:77" and crashed.source == "t.posts.raw/2@77"
    assert crashed.original == encode(poisoned)
    assert shipped.raw_consumed == 42 and shipped.facts_sent == 40
    assert shipped.dead_lettered == Counter({"enrich-crashed": 1, "invalid-json": 1})
    assert len(facts_of(again)) == 5 and len(facts_of(after)) == 3  # nothing else lost
    assert "halving it" in caplog.text


def test_the_child_ends_when_its_worker_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(
        "import asyncio, os, sys\n"
        "from tests.test_enrich_process import spec\n"
        "from pipeline.stages.enrich_process import EnrichProcess\n"
        "async def main():\n"
        "    child = EnrichProcess(spec(), processes=1)\n"
        "    await child.start()\n"
        "    print(*child._pool._processes, flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "if __name__ == '__main__':\n"
        "    asyncio.run(main())\n"
    )
    worker = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert worker.stdout is not None
    (child,) = map(int, worker.stdout.readline().split())
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{child}").exists() or "Z" in _state(child)


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
