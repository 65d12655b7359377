"""The campaign config loader: typed, strict about what it knows, keeps what it does not; any
file, however hostile, is a campaign or an error naming the file and the problem."""

from __future__ import annotations

import tempfile
from datetime import UTC
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.alerts.config import AlertConfig, alert_config
from pipeline.core.campaign import Campaign, CampaignError, XSettings, load_campaign, parse_campaign

FIXTURE = Path(__file__).parent / "fixtures" / "campaign.toml"


def test_fixture_loads_into_a_typed_campaign() -> None:
    campaign = load_campaign(FIXTURE)
    assert isinstance(campaign, Campaign)
    assert campaign.name == "detainees"
    assert campaign.hashtags == (
        "أين_المعتقلين",
        "اين_المعتقلين",
        "وين_المعتقلين",
        "WhereAreTheDetainees",
    )  # '#' stripped, the case-only duplicate dropped, every Arabic spelling kept
    assert campaign.keywords == ("صيدنايا", "Saydnaya prison")
    assert campaign.languages == ("ar", "en", "tr")
    assert campaign.x == XSettings(tier="basic")
    assert campaign.path == FIXTURE


def test_unknown_sections_are_kept_for_later_features() -> None:
    campaign = load_campaign(FIXTURE)
    assert campaign.extra == {
        "alerts": {
            "surge_k": 3.0,
            "keywords": ["Saydnaya"],
            "webhooks": ["https://alerts.example.org/hashwatch"],
        }
    }


def test_the_alerts_section_configures_the_alert_rules() -> None:
    config = alert_config(FIXTURE)
    assert config.surge_k == 3.0 and config.keywords == ("Saydnaya",)
    assert config.languages == ("ar", "en", "tr")
    assert config.webhooks == ("https://alerts.example.org/hashwatch",)


def test_unknown_alert_settings_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text('name = "c"\nhashtags = ["#a"]\n[alerts]\nsurge_factr = 2\n')
    with pytest.raises(ValueError, match="surge_factr"):
        alert_config(bad)


def test_defaults_and_tier_overrides() -> None:
    campaign = parse_campaign({"name": "c", "keywords": ["x"]})
    assert campaign.x == XSettings(tier="pro")
    assert campaign.hashtags == () and campaign.languages == ()
    custom = parse_campaign(
        {"name": "c", "hashtags": ["a"], "x": {"tier": "enterprise", "max_rules": 7}}
    )
    assert custom.x == XSettings(tier="enterprise", max_rules=7)


def _error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CampaignError) as info:
        load_campaign(path)
    message = str(info.value)
    assert str(path) in message  # every error names the file
    return message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CampaignError, match="not found"):
        load_campaign(tmp_path / "nope.toml")


def test_bad_toml_says_where(tmp_path: Path) -> None:
    message = _error(tmp_path, 'name = "c"\nhashtags = ["a"]]\nkeywords = []\n')
    assert "invalid TOML" in message and "line" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('hashtags = ["a"]', "`name` is required"),
        ('name = ""\nhashtags = ["a"]', "`name` is required"),
        ('name = "a:b"\nhashtags = ["a"]', "must not contain ':'"),
        ('name = "c"', "at least one of `hashtags` or `keywords`"),
        ('name = "c"\nhashtags = "a"', "`hashtags` must be a list of strings"),
        ('name = "c"\nhashtags = ["a", 3]', "`hashtags` must be a list of strings"),
        ('name = "c"\nhashtags = ["two words"]', "contains spaces"),
        ('name = "c"\nhashtags = ["#"]', "is empty"),
        ('name = "c"\nkeywords = [" "]', "empty string"),
        ('name = "c"\nhashtags = ["a"]\nlanguages = "ar"', "`languages` must be a list"),
        ('name = "c"\nhashtags = ["a"]\nx = 3', "`x` must be a table"),
        ('name = "c"\nhashtags = ["a"]\n[x]\ntier = "gold"', "tier must be one of"),
        ('name = "c"\nhashtags = ["a"]\n[x]\nmax_rules = 0', "positive integer"),
        ('name = "c"\nhashtags = ["a"]\n[x]\nmax_rule_length = true', "positive integer"),
        ('name = "c"\nhashtags = ["a"]\n[x]\ntierr = "pro"', "unknown key(s) in [x]: tierr"),
    ],
)
def test_bad_values_are_refused_clearly(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in _error(tmp_path, text)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(b'name = "\xff"\n')
    with pytest.raises(CampaignError, match="not UTF-8"):
        load_campaign(path)


# --- property-based: any file, any values -----------------------------------------------------

WORDS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
TOML_VALUES = st.recursive(
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | WORDS
    | st.datetimes(timezones=st.none() | st.just(UTC))
    | st.sampled_from(["https://a.example", "wss://j.example/subscribe", "http://[::1", "#", ""]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(WORDS, inner, max_size=3),
    max_leaves=10,
)
SECTIONS = {
    None: ["name", "hashtags", "keywords", "languages", "alerts", "x", "mastodon", "bluesky"],
    "x": ["tier", "max_rules", "max_rule_length", "tierr"],
    "mastodon": ["instances", "token_env", "tokens"],
    "bluesky": ["jetstream"],
    "alerts": [
        "surge", "surge_k", "surge_history", "surge_min_history", "surge_min_posts",
        "video_surge_min", "cluster_size", "new_language_min", "languages", "keywords",
        "accounts", "watch_min", "webhooks",
    ],
}  # fmt: skip
FRAGMENTS = st.sampled_from(
    ['name = "c"\n', 'hashtags = ["a", "#b"]\n', "[x]\n", "[alerts]\n", "[mastodon]\n",
     "[[x]]\n", "a = [", "]", "{", "}", "b = {c = ", '"', "'''", "\\u0000", "\\ud800", "=",
     "\n", "\x00", "\xff", "1979-05-27T07:32:00Z", "inf", "nan", "0x", "[mastodon.tokens]\n"]
)  # fmt: skip
CONTENT = (
    st.binary(max_size=400)
    | st.lists(FRAGMENTS, max_size=30).map(lambda parts: "".join(parts).encode("utf-8", "replace"))
    | st.integers(1, 100_000).map(lambda n: b"a = " + b"[" * n)
    | st.integers(1, 100_000).map(lambda n: b"a = " + b"{b=" * n + b"1" + b"}" * n)
    | st.integers(1, 3000).map(lambda n: b'name = "c"\nhashtags = [' + b'"a",' * n + b"]")
)


def loaded(content: bytes) -> tuple[Campaign, AlertConfig] | str:
    """The campaign and its alert settings, or the CampaignError's message."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "campaign.toml"
        path.write_bytes(content)
        try:
            return load_campaign(path), alert_config(path)
        except CampaignError as exc:
            message = str(exc)
            assert message.startswith(str(path)) and len(message) < 1000
            return message


def well_typed(campaign: Campaign, alerts: AlertConfig) -> None:
    """What collectors and the rules may rely on once a config has loaded."""
    assert isinstance(campaign.name, str) and campaign.name
    for term in (*campaign.hashtags, *campaign.keywords, *campaign.languages):
        assert isinstance(term, str) and "\x00" not in term
    assert campaign.hashtags or campaign.keywords
    assert all(isinstance(u, str) and "://" in u for u in campaign.mastodon.instances)
    for name in ("surge_history", "surge_min_history", "cluster_size", "watch_min"):
        value = getattr(alerts, name)
        assert isinstance(value, int) and not isinstance(value, bool) and value >= 1
    assert isinstance(alerts.surge_k, float) and alerts.surge_k >= 0
    assert all(isinstance(w, str) for w in alerts.webhooks + alerts.keywords + alerts.accounts)


@pytest.mark.fuzz
@given(CONTENT)
def test_any_file_is_a_campaign_or_a_clear_error(content: bytes) -> None:
    result = loaded(content)
    if not isinstance(result, str):
        well_typed(*result)


@pytest.mark.fuzz
@given(st.lists(st.tuples(st.sampled_from(sorted(SECTIONS, key=str)), st.data()), max_size=4))
def test_any_values_anywhere_are_a_campaign_or_a_clear_error(
    changes: list[tuple[str | None, st.DataObject]],
) -> None:
    data: dict[str, Any] = {"name": "c", "hashtags": ["a"]}
    for section, draw in changes:
        key = draw.draw(st.sampled_from(SECTIONS[section]))
        value = draw.draw(TOML_VALUES)
        if section is None:
            data[key] = value
        else:
            table = data.get(section)
            data[section] = {**(table if isinstance(table, dict) else {}), key: value}
    try:
        campaign = parse_campaign(data)
        alerts = AlertConfig.from_mapping(campaign.extra.get("alerts"), campaign.languages)
    except (CampaignError, ValueError) as exc:
        assert str(exc) and len(str(exc)) < 1000
        return
    well_typed(campaign, alerts)


NAMES = st.from_regex(r"[\w.-]{1,20}", fullmatch=True)
TAGS = st.from_regex(r"[#＃]?[\w]{1,20}", fullmatch=True)
PHRASES = st.from_regex(r"[\w]{1,10}( [\w]{1,10}){0,3}", fullmatch=True)


@pytest.mark.fuzz
@given(NAMES, st.lists(TAGS, max_size=5), st.lists(PHRASES, max_size=5), st.integers(1, 10**6))
def test_a_written_campaign_reads_back(
    name: str, tags: list[str], phrases: list[str], max_rules: int
) -> None:
    if not tags and not phrases:
        phrases = ["x"]
    text = (
        f"name = {orjson.dumps(name).decode()}\n"
        f"hashtags = {orjson.dumps(tags).decode()}\n"
        f"keywords = {orjson.dumps(phrases).decode()}\n"
        f'[x]\ntier = "basic"\nmax_rules = {max_rules}\n'
        '[alerts]\nsurge_k = 2\nwebhooks = ["https://hooks.example/h"]\n'
    )
    result = loaded(text.encode())
    assert not isinstance(result, str), result
    campaign, alerts = result
    first: dict[str, str] = {}  # the first spelling of each tag, ignoring case
    for tag in tags:
        first.setdefault(tag.lstrip("#＃").casefold(), tag.lstrip("#＃"))
    assert campaign.name == name
    assert campaign.hashtags == tuple(first.values())
    assert set(campaign.keywords) <= set(phrases)
    assert {k.casefold() for k in campaign.keywords} == {p.casefold() for p in phrases}
    assert campaign.x == XSettings(tier="basic", max_rules=max_rules)
    assert alerts.surge_k == 2.0 and alerts.webhooks == ("https://hooks.example/h",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a = " + "[" * 100_000, "nested too deeply"),
        ('name = "c"\nhashtags = ["a\\u0000b"]', "control characters"),
        ('name = "c"\nkeywords = ["a\\u0007"]', "control character"),
        ('name = "c"\nhashtags = ["a"]\n[mastodon]\ninstances = ["https://[::1"]', "base URL"),
        ('name = "c"\nhashtags = ["a"]\n[mastodon]\ninstances = ["https://a:99999"]', "base URL"),
        ('name = "c"\nhashtags = ["a"]\n[mastodon]\ninstances = ["https://a?b"]', "base URL"),
        ('name = "c"\nhashtags = ["a"]\n[mastodon]\ntoken_env = "A\\u0000"', "token_env"),
        ('name = "c"\nhashtags = ["a"]\n[bluesky]\njetstream = "wss://"', "jetstream"),
        ('name = "c"\nhashtags = ["a"]\n[alerts]\nsurge_k = "3"', "surge_k must be a number"),
        ('name = "c"\nhashtags = ["a"]\n[alerts]\nsurge_k = nan', "surge_k must be a number"),
        ('name = "c"\nhashtags = ["a"]\n[alerts]\nsurge_history = 0', "surge_history"),
        ('name = "c"\nhashtags = ["a"]\n[alerts]\nsurge = 1', "surge must be true or false"),
        ('name = "c"\nhashtags = ["a"]\n[alerts]\nwebhooks = 3', "webhooks must be a list"),
        ('name = "c"\nhashtags = ["a"]\nalerts = 3', "[alerts] must be a table"),
        ('name = "c"\nhashtags = ["' + "a" * (1 << 20) + '"]', "larger than"),
    ],
)
def test_hostile_configs_are_refused_clearly(tmp_path: Path, text: str, expected: str) -> None:
    message = _error_with_alerts(tmp_path, text)
    assert expected in message and len(message) < 1000


def _error_with_alerts(tmp_path: Path, text: str) -> str:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CampaignError) as info:
        alert_config(path)
    message = str(info.value)
    assert message.startswith(str(path))
    return message


def test_credentials_in_an_instance_url_are_refused_without_being_repeated(
    tmp_path: Path,
) -> None:
    text = 'name = "c"\nhashtags = ["a"]\n[mastodon]\ninstances = ["https://me:s3cr3t@a.example"]'
    message = _error_with_alerts(tmp_path, text)
    assert "credentials" in message and "s3cr3t" not in message
