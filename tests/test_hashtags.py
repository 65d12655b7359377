from __future__ import annotations

import pytest

from pipeline.core.hashtags import cooccurring_pairs, fold_text, normalize_hashtag

SAME_TAG = [
    pytest.param(
        ["#İstanbul", "ISTANBUL", "istanbul", "Istanbul", "ıstanbul", "#İSTANBUL"], id="tr-i"
    ),
    pytest.param(
        [
            "#أين_المعتقلين",
            "#اين_المعتقلين",
            "#إين_المعتقلين",
            "＃أين_المعتقلين",  # fullwidth number sign
            "#أين_المعتقلـــين",  # tatweel
            "#أَيْنَ_المُعْتَقَلِين",  # harakat
            "#أينالمعتقلين",
        ],
        id="ar-alef-tatweel-harakat",
    ),
    pytest.param(["#آزادی", "#ازادي", "#أزادى"], id="fa-yeh-madda-maqsura"),
    pytest.param(["#کرامة", "#كرامه", "#كرامة"], id="keheh-ta-marbuta"),
    pytest.param(["#مصطفى", "#مصطفي"], id="alef-maqsura"),
    pytest.param(["#ٱلحرية", "#الحرية"], id="alef-wasla"),
    pytest.param(
        ["#WhereAreTheDetainees", "#wherearethedetainees", "#Where_Are_The_Detainees"],
        id="en-case-underscore",
    ),
    pytest.param(["#TutuklularNerede", "#tutuklularnerede", "#TUTUKLULARNEREDE"], id="tr-case"),
    pytest.param(["#ÖzgürlükİçinSesVer", "#OzgurlukIcinSesVer"], id="tr-ascii-keyboard"),
    pytest.param(["#OùSontLesDétenus", "#ousontlesdetenus"], id="fr-accents"),
    pytest.param(["#ГдеЗаключённые", "#гдезаключенные"], id="ru-yo"),
    pytest.param(["#سوريا_٢٠٢٤", "#سوريا_۲۰۲۴", "#سوريا_2024"], id="digits"),
    pytest.param(["#Straße", "#STRASSE"], id="casefold"),
]


@pytest.mark.parametrize("variants", SAME_TAG)
def test_variants_share_one_key(variants: list[str]) -> None:
    keys = {normalize_hashtag(v) for v in variants}
    assert len(keys) == 1, keys
    assert "" not in keys


def test_turkish_capital_dotted_i_leaves_no_combining_dot() -> None:
    assert normalize_hashtag("#İstanbul") == "istanbul"
    assert "\u0307" not in normalize_hashtag("İİ")


def test_different_tags_stay_different() -> None:
    tags = [
        "#أين_المعتقلين",
        "#أين_المعتقلات",
        "#المعتقلين",
        "#سوريا",
        "#صيدنايا",
        "#WhereAreTheDetainees",
        "#WhereAreTheDetained",
        "#TutuklularNerede",
        "#TutuklularNeredeydi",
        "#Syria",
        "#Syrian",
        "#sednaya",
        "#سوريا_2024",
        "#سوريا_2025",
    ]
    assert len({normalize_hashtag(t) for t in tags}) == len(tags)


def test_normalization_is_idempotent() -> None:
    for param in SAME_TAG:
        for tag in param.values[0]:  # type: ignore[union-attr]
            key = normalize_hashtag(tag)
            assert normalize_hashtag(key) == key


def test_fold_text_keeps_word_boundaries_and_underscores() -> None:
    assert fold_text("أَين  المعتقلـين_IŞIK") == "اين  المعتقلين_isik"


def test_cooccurring_pairs_collapse_spellings_and_sort() -> None:
    pairs = cooccurring_pairs(["#أين_المعتقلين", "#Syria", "#اين_المعتقلين", "#syria", "#Saydnaya"])
    assert pairs == [("saydnaya", "syria"), ("saydnaya", "اينالمعتقلين"), ("syria", "اينالمعتقلين")]


@pytest.mark.parametrize("tags", [[], ["#Syria"], ["#Syria", "#SYRIA", "syria"], ["#", "＃"]])
def test_cooccurring_pairs_need_two_distinct_tags(tags: list[str]) -> None:
    assert cooccurring_pairs(tags) == []
