"""`dsnworker report --format html`: one page that opens offline and shows its charts.

Rendered by a real headless Chromium: the DOM it builds holds the charts' SVG bars, and its
screenshot (decoded with tests/png.py) is not blank and carries the actions' colours.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from dsnworker.report.svg import COLOURS
from tests import mailgen, png, processes
from tests.conftest import chromium_program
from tests.test_report import bounces, polled, report_json

WINDOW = (1000, 1100)
# the network is closed here and a report must not need it: nothing to fetch, nothing to update
FLAGS = (
    "--headless",
    "--no-sandbox",  # as root, Chromium refuses to start without it
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def chromium(page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="dsnworker-chromium-") as profile:
        command = [chromium_program(), *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()]
        return subprocess.run(command, capture_output=True, text=True, timeout=180, check=True)  # watchdog only


def report_page(tmp_path: Path) -> Path:
    now = datetime.now(UTC)
    earlier = [  # a few days of bounces, so that the per-day chart has several columns
        mailgen.dsn(f"past{n}@example.jp", serial=200 + n, date=format_datetime(now - timedelta(days=n % 5 + 1)))
        for n in range(15)
    ]
    config = polled(tmp_path, bounces() + earlier)
    page = tmp_path / "report.html"
    result = processes.run("report", "-c", config, "--format", "html", "-o", page)
    assert result.returncode == 0, result.stderr
    return page


def test_the_page_needs_nothing_from_outside(tmp_path: Path) -> None:
    text = report_page(tmp_path).read_text()
    assert not re.search(r"<script|<link|<img|<iframe|\bsrc=|\bhref=|url\(|@import", text)
    assert set(re.findall(r"https?://[^\s\"'<>]+", text)) == {"http://www.w3.org/2000/svg"}  # a name, not a fetch


def test_chromium_builds_both_charts(tmp_path: Path) -> None:
    page = report_page(tmp_path)
    figures = report_json(tmp_path / "config.toml")
    dom = chromium(page, "--dump-dom").stdout
    per_day = re.search(r'<svg class="chart per-day".*?</svg>', dom, re.S)
    per_provider = re.search(r'<svg class="chart per-provider".*?</svg>', dom, re.S)
    assert per_day and per_provider, dom[:2000]
    day_bars = re.findall(r'<rect class="bar action-(\w+)"', per_day.group())
    provider_bars = re.findall(r'<rect class="bar action-(\w+)"', per_provider.group())
    # today: suppress, retry, fix_address, sender_fix; five earlier days of suppress
    assert sorted(set(day_bars)) == ["fix_address", "retry", "sender_fix", "suppress"] and len(day_bars) == 9
    segments = [(row["provider"], action) for row in figures["providers"] for action, n in row["actions"].items() if n]
    assert len(provider_bars) == len(segments) and len(segments) >= 4
    assert dom.count("<title>") >= len(day_bars) + len(provider_bars)  # each bar says what it counts


def test_the_screenshot_shows_the_charts(tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    chromium(report_page(tmp_path), f"--screenshot={shot}", f"--window-size={WINDOW[0]},{WINDOW[1]}")
    width, height, colours = png.pixels(shot.read_bytes())
    assert (width, height) == WINDOW
    counts: dict[tuple[int, int, int], int] = {}
    for rgb in colours:
        counts[rgb] = counts.get(rgb, 0) + 1
    not_white = width * height - counts.get((255, 255, 255), 0)
    assert not_white > width * height // 50, f"only {not_white} pixels are not white: a blank page?"
    for action in ("suppress", "retry", "fix_address", "sender_fix"):
        rgb = tuple(int(COLOURS[action][i : i + 2], 16) for i in (1, 3, 5))
        assert counts.get(rgb, 0) > 200, f"the {action} bars ({COLOURS[action]}) are not on the screenshot"
