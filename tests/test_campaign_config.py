"""The campaign config loader: typed, strict about what it knows, keeps what it does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.alerts.rules import alert_config
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
