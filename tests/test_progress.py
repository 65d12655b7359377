"""The progress reporter: plain lines off a terminal, a redrawn bar on one, honest rate and ETA."""

from __future__ import annotations

import io
import logging

import pytest

from pipeline.core.progress import Progress, format_duration


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_it_prints_one_plain_line_per_interval() -> None:
    clock, out = Clock(), io.StringIO()
    bar = Progress(1000, "export", out, interval=5.0, unit="posts", clock=clock)
    for _ in range(10):  # 100 posts a second for 10 s, advanced every second
        clock.now += 1.0
        bar.advance(100)
    bar.close()
    lines = out.getvalue().splitlines()
    assert lines == [
        "export: 500/1,000 posts (50%), 100/s, ETA 0:05",
        "export: 1,000/1,000 posts (100%), 100/s, ETA 0:00",
        "export: done 1,000/1,000 posts (100%), 100/s, 0:10",
    ]
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()


def test_on_a_terminal_it_redraws_one_line_and_ends_it_on_close(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("COLUMNS", "100")
    clock, out = Clock(), Terminal()
    bar = Progress(200, "replay", out, clock=clock)
    assert bar.tty and bar.interval < 1
    clock.now += 1.0
    bar.advance(50)
    clock.now += 1.0
    bar.advance(50)
    text = out.getvalue()
    assert text.count("\r\x1b[2K") == 2 and "\n" not in text  # redrawn in place
    assert "replay  50% [" in text and "#" in text and "100/200" in text and "ETA 0:02" in text
    bar.close()
    assert out.getvalue().endswith("\n") and out.getvalue().count("\n") == 1
    assert all(len(part.rstrip("\n")) < 100 for part in out.getvalue().split("\r\x1b[2K"))


def test_a_dumb_terminal_gets_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    assert not Progress(10, "x", Terminal()).tty


def test_unknown_total_shows_count_and_rate_and_no_eta_until_a_total_is_set() -> None:
    clock, out = Clock(), io.StringIO()
    bar = Progress(None, "run", out, interval=1.0, clock=clock)
    clock.now += 2.0
    bar.update(400)
    assert out.getvalue().splitlines()[-1] == "run: 400, 200/s, 0:02 elapsed"
    assert bar.eta() is None
    bar.set_total(1000)  # e.g. hashwatch run once the replay knows how many posts it sent
    clock.now += 1.0
    bar.update(600)
    assert bar.eta() == pytest.approx(400 / 200)
    assert out.getvalue().splitlines()[-1] == "run: 600/1,000 (60%), 200/s, ETA 0:02"


def test_rate_follows_the_recent_pace_not_the_average_since_start() -> None:
    clock = Clock()
    bar = Progress(None, "x", io.StringIO(), interval=1.0, clock=clock)
    for _ in range(30):  # 30 s at 1,000/s
        clock.now += 1.0
        bar.advance(1000)
    for _ in range(30):  # then 30 s at 10/s: the rate must show the slowdown
        clock.now += 1.0
        bar.advance(10)
    assert bar.rate() == pytest.approx(10, rel=0.01)


def test_close_is_idempotent_and_stops_drawing() -> None:
    clock, out = Clock(), io.StringIO()
    bar = Progress(5, "x", out, interval=0.1, clock=clock)
    with bar:
        bar.advance(5)
    bar.close()
    clock.now += 10
    bar.advance(1)
    assert out.getvalue().count("\n") == 1


def test_a_closed_stream_never_breaks_the_work() -> None:
    out = io.StringIO()
    bar = Progress(10, "x", out, interval=0.0)
    out.close()
    bar.advance(3)
    bar.close()


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0:00"), (7.4, "0:07"), (750, "12:30"), (11045, "3:04:05")]
)
def test_durations_read_like_a_clock(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_off_a_terminal_lines_can_go_through_logging(caplog: pytest.LogCaptureFixture) -> None:
    clock, out = Clock(), io.StringIO()
    log = logging.getLogger("hashwatch.test.progress")
    bar = Progress(10, "backfill", out, interval=1.0, log=log, clock=clock)
    clock.now += 1.0
    with caplog.at_level(logging.INFO, logger=log.name):
        bar.advance(4)
        bar.close()
    assert out.getvalue() == ""
    assert [r.getMessage() for r in caplog.records] == [
        "backfill: 4/10 (40%), 4.0/s, ETA 0:02",
        "backfill: done 4/10 (40%), 4.0/s, 0:01",
    ]
