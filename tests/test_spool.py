"""The collector's on-disk spool: what the broker never acknowledged survives the collector."""

from __future__ import annotations

from pathlib import Path

from agents.spool import Spool


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_unacknowledged_records_survive_a_restart_in_order(tmp_path: Path) -> None:
    path = tmp_path / "c.journal"
    spool = Spool(path)
    a = spool.append("raw", b"x:1", b"one")
    spool.append("raw", None, b"two")
    c = spool.append("gaps", b"g", b"three")
    spool.ack(a)
    spool.ack(c)
    spool.close()  # and a kill -9 would leave the same files: every write is flushed

    again = Spool(path)
    left = again.unacknowledged()
    assert [(e.topic, e.key, e.value) for e in left] == [("raw", None, b"two")]
    assert again.append("raw", b"x:4", b"four") == 4  # numbering goes on, no reuse


def test_a_torn_last_write_is_not_a_record(tmp_path: Path) -> None:
    path = tmp_path / "c.journal"
    spool = Spool(path)
    spool.append("raw", b"x:1", b"one")
    spool.append("raw", b"x:2", b"two")
    spool.close()
    path.write_bytes(path.read_bytes()[:-1])  # the machine died inside the second write
    acks = path.with_name(path.name + ".acks")
    acks.write_bytes(acks.read_bytes() + b"\x01\x00")

    assert [e.value for e in Spool(path).unacknowledged()] == [b"one"]


def test_acknowledged_records_are_kept_for_the_window_then_forgotten(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "c.journal"
    spool = Spool(path, keep_s=60, clock=clock)
    old = [spool.append("raw", None, b"old%d" % i) for i in range(100)]
    for seq in old:
        spool.ack(seq)
    clock.now += 50
    fresh = spool.append("raw", None, b"fresh")
    spool.ack(fresh)
    spool.append("raw", None, b"pending")  # never acknowledged
    assert len(spool.recent()) == 102  # a restarted broker gets all of these again

    clock.now += 20  # the first hundred are older than the window now
    assert [e.value for e in spool.recent()] == [b"fresh", b"pending"]
    size = path.stat().st_size
    assert size < 200  # rewritten without what it forgot
    spool.close()
    assert [e.value for e in Spool(path, keep_s=60, clock=clock).recent()] == [
        b"fresh",
        b"pending",
    ]
