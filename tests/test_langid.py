"""Language identification: cleaning, `und`, restriction, determinism, CLI, and accuracy of
every backend on samples of lingua's test data (the real texts, in 14 languages)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.enrich.langid import BACKENDS, UND, Detection, Detector, make_detector
from pipeline.enrich.langid.cascade import CascadeDetector, Policy
from pipeline.enrich.langid.clean import MIN_LETTERS, clean, letters
from pipeline.enrich.langid.cli import lang_command
from tests.conftest import shared_data

LANGS = ("ar", "de", "en", "es", "fa", "fr", "he", "id", "it", "nl", "pt", "ru", "tr", "ur")
SAMPLE = 50  # lines per language: enough to tell a working backend from a broken one, fast


def data_dir() -> Path:
    path = shared_data() / "langid"
    if not path.is_dir():
        pytest.fail(f"lingua's test data not found at {path} (set HASHWATCH_SHARED_DATA)")
    return path


@cache
def sample(category: str, lines: int = SAMPLE) -> tuple[tuple[str, str], ...]:
    """(gold language, text) for the first `lines` texts of each language."""
    rows = []
    for lang in LANGS:
        text = (data_dir() / category / f"{lang}.txt").read_text(encoding="utf-8")
        rows += [(lang, t) for t in [t for t in text.split("\n") if t.strip()][:lines]]
    return tuple(rows)


@cache
def detector(backend: str) -> Detector:
    """One detector per backend for the whole module: models load once."""
    return make_detector(backend)


@cache
def accuracy(backend: str, category: str, lines: int = SAMPLE) -> float:
    """Mean over the 14 languages of the share detected right, in percent."""
    rows = sample(category, lines)
    found = detector(backend).detect_batch([text for _, text in rows])
    right: dict[str, list[bool]] = {}
    for (gold, _), d in zip(rows, found, strict=True):
        right.setdefault(gold, []).append(d.lang == gold)
    return 100 * sum(sum(v) / len(v) for v in right.values()) / len(right)


# --- cleaning -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("RT @news_ar: Hello world", "Hello world"),
        ("see https://t.co/AbC123 and www.example.org/x now", "see and now"),
        ("thanks @someone and @other_one!", "thanks and !"),
        ("#SaveGaza now", "Save Gaza now"),
        ("#free_palestine", "free palestine"),
        ("#غزة_تنتصر الآن", "غزة تنتصر الآن"),
        ("Tom &amp; Jerry &lt;3 &quot;ok&quot;", 'Tom & Jerry <3 "ok"'),
        ("so happy 😀🎉🇹🇷 today 👍🏽", "so happy today"),
        ("👩‍👩‍👧 family", "family"),
        ("line one\nline two\ttab", "line one line two tab"),
        ("BREAKING NEWS FROM ISTANBUL", "breaking news from istanbul"),
        ("mail me at a@b.com", "mail me at a@b.com"),  # not a mention
        ("می\u200cخواهم", "می\u200cخواهم"),  # Persian's zero-width non-joiner is kept
    ],
)
def test_clean(raw: str, cleaned: str) -> None:
    assert clean(raw) == cleaned


def test_letters_ignores_digits_punctuation_and_marks() -> None:
    assert letters("a1 b2, c3!") == 3
    assert letters("مَرْحَبًا") == 5  # Arabic diacritics are marks, not letters
    assert letters("2024 - 10:30") == 0


# --- und ------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "text",
    [
        "",
        "ok",
        "😀😀🔥",
        "https://example.com/some/long/path",
        "@someone @other",
        "12345 !!!",
        "RT @x: https://t.co/abc 👍",
    ],
)
def test_too_little_text_is_und(backend: str, text: str) -> None:
    d = detector(backend).detect(text)
    assert d == Detection(UND, 0.0, d.backend)
    assert d.backend in (backend, "fasttext", "lingua")


def test_min_letters_is_the_boundary() -> None:
    d = detector("fasttext")
    assert d.detect("x" * (MIN_LETTERS - 1)).lang == UND
    assert d.detect("Das ist gut").lang != UND


# --- results --------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_detection_shape_and_batch_matches_single(backend: str) -> None:
    texts = [t for _, t in sample("word-pairs", 2)] + ["", "Bonjour à tous, comment ça va ?"]
    batch = detector(backend).detect_batch(texts)
    assert len(batch) == len(texts)
    single = [detector(backend).detect(t) for t in texts]
    assert [(d.lang, d.backend) for d in batch] == [(d.lang, d.backend) for d in single]
    # lingua sums log-probabilities in hash-map order: equal up to the last bits
    assert [d.confidence for d in batch] == pytest.approx([d.confidence for d in single])
    for d in batch:
        assert isinstance(d, Detection)
        assert 0.0 <= d.confidence <= 1.0
        assert d.lang == UND or (d.lang.isalpha() and d.lang.islower() and len(d.lang) in (2, 3))
    assert batch[-1].lang == "fr"
    with pytest.raises(AttributeError):
        batch[-1].lang = "en"  # type: ignore[misc]


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown language backend"):
        make_detector("cld3")


def test_cascade_says_which_backend_decided() -> None:
    found = detector("cascade").detect_batch([t for _, t in sample("word-pairs")])
    deciders = {d.backend for d in found}
    assert deciders == {"fasttext", "lingua"}  # lingua only where fastText was unsure


# --- accuracy on lingua's test data ---------------------------------------------------------

# Floors a few points under what each backend scores on these samples (measured: fastText
# 98.7 / 79.9, cascade 98.3 / 89.9, lingua 94.0 / 89.1, langdetect 97.0 / 75.1): a broken
# model, cleaning step or code mapping falls far below them.
FLOORS = {
    "fasttext": {"sentences": 95.0, "word-pairs": 75.0},
    "cascade": {"sentences": 97.0, "word-pairs": 85.0},
    "lingua": {"sentences": 90.0, "word-pairs": 84.0},
    "langdetect": {"sentences": 93.0, "word-pairs": 70.0},
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("category", ["sentences", "word-pairs"])
def test_accuracy_above_floor(backend: str, category: str) -> None:
    slow = backend == "langdetect" and category == "word-pairs"  # ~300 texts/s
    assert accuracy(backend, category, 25 if slow else SAMPLE) >= FLOORS[backend][category]


def test_cascade_at_least_langdetect_on_sentences() -> None:
    assert accuracy("cascade", "sentences") >= accuracy("langdetect", "sentences")


def test_cascade_beats_fasttext_on_word_pairs() -> None:
    """The point of the second opinion: short texts."""
    assert accuracy("cascade", "word-pairs") >= accuracy("fasttext", "word-pairs") + 5


# --- languages beyond the campaign's ---------------------------------------------------------


def test_cascade_finds_languages_fasttext_does_not_know() -> None:
    """fastText lite has no Zulu, Xhosa or Shona: lingua's low-accuracy pass proposes them."""
    texts = ["Ngiyabonga kakhulu ngosizo lwakho namhlanje", "Ndiyabulela kakhulu mhlobo wam"]
    assert {d.lang for d in detector("fasttext").detect_batch(texts)}.isdisjoint({"zu", "xh"})
    found = detector("cascade").detect_batch(texts)
    assert [(d.lang, d.backend) for d in found] == [("zu", "lingua"), ("xh", "lingua")]


def test_cjk_word_pairs_are_long_enough_to_tell() -> None:
    assert letters("浙江") >= MIN_LETTERS  # two ideographs are a word, not two letters
    assert detector("cascade").detect("浙江").lang == "zh"
    assert detector("cascade").detect("クロノ").lang == "ja"


def test_han_without_kana_is_not_taken_for_japanese() -> None:
    """fastText lite calls these Chinese sentences (lingua's test data) Japanese at 0.74-0.79,
    sure enough not to ask lingua; Japanese is written with kana between its kanji."""
    chinese = [
        "2011年高等学校专升本招生全国统一考试高等数学（一）试题?",
        "中共十八届三中全会意义常常被跟当年邓小平的对外开放和引入外资相提并论。",
    ]
    assert [d.lang for d in detector("fasttext").detect_batch(chinese)] == ["ja", "ja"]
    assert [d.lang for d in detector("cascade").detect_batch(chinese)] == ["zh", "zh"]
    japanese = "東京都の人口は約千四百万人で、日本の首都として政治と経済の中心である。"
    assert detector("cascade").detect(japanese).lang == "ja"


def test_norwegian_is_published_as_bokmal() -> None:
    text = "Fra 1600-tallet ble gården drevet av leilendinger, mens eierne var rike byborgere."
    assert detector("fasttext").detect(text).lang == "nb"
    assert make_detector("fasttext", ["no"]).languages == frozenset({"nb"})


def test_low_confidence_answers_are_und() -> None:
    """Below `und_below` the cascade says `und` but keeps the confidence it had."""
    texts = [t for _, t in sample("single-words", 10)]
    free = CascadeDetector(policy=Policy(und_below=0.0)).detect_batch(texts)
    strict = CascadeDetector(policy=Policy(und_below=0.6)).detect_batch(texts)
    assert any(d.lang == UND for d in strict)
    for f, s in zip(free, strict, strict=True):
        assert s.confidence == pytest.approx(f.confidence)
        assert s.lang == (UND if f.confidence < 0.6 else f.lang)
    default = Policy().und_below
    assert all(
        d.lang == UND or d.confidence >= default for d in detector("cascade").detect_batch(texts)
    )


# --- langdetect determinism -----------------------------------------------------------------


def test_langdetect_is_deterministic() -> None:
    """Unseeded langdetect answers short ambiguous texts differently from run to run."""
    texts = [t for _, t in sample("single-words", 10)]
    first = make_detector("langdetect").detect_batch(texts)
    second = make_detector("langdetect").detect_batch(texts)
    assert first == second
    assert first == detector("langdetect").detect_batch(texts)


# --- languages= restriction -----------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_restriction_only_answers_allowed_languages(backend: str) -> None:
    allowed = {"es", "pt"}
    restricted = make_detector(backend, languages=sorted(allowed))
    texts = [t for g, t in sample("sentences", 5) if g in ("en", "de", "pt", "es")]
    found = restricted.detect_batch([*texts, "ok"])
    assert {d.lang for d in found[:-1]} <= allowed
    assert found[-1].lang == UND
    portuguese = [t for g, t in sample("sentences", 20) if g == "pt"]
    right = sum(d.lang == "pt" for d in restricted.detect_batch(portuguese))
    assert right >= 18


def test_restriction_helps_where_languages_are_confusable() -> None:
    """Indonesian word pairs are often read as Malay; a campaign known to be Indonesian or
    English should not get Malay answers."""
    indonesian = [t for g, t in sample("word-pairs") if g == "id"]
    free = detector("cascade").detect_batch(indonesian)
    restricted = make_detector("cascade", ["id", "en"]).detect_batch(indonesian)
    assert sum(d.lang == "id" for d in restricted) > sum(d.lang == "id" for d in free)


def test_restriction_to_an_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot detect"):
        make_detector("lingua", ["ckb"])  # Sorani: fastText knows it, lingua does not
    assert make_detector("cascade", ["ckb", "ar"]).name == "cascade"


# --- CLI ------------------------------------------------------------------------------------


def test_cli_writes_one_json_line_per_input_line() -> None:
    lines = [
        "Hello everyone, thanks for coming",
        "",
        "😀",
        "مرحبا بكم جميعا في هذا اليوم",
        "Merhaba arkadaşlar, nasılsınız?",
    ]
    result = CliRunner().invoke(lang_command, ["--batch-size", "2"], input="\n".join(lines))
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert len(records) == len(lines)
    assert [r["lang"] for r in records] == ["en", UND, UND, "ar", "tr"]
    for r in records:
        assert set(r) == {"lang", "confidence", "backend"}
        assert 0 <= r["confidence"] <= 1


def test_cli_backend_and_languages_options() -> None:
    runner = CliRunner()
    result = runner.invoke(lang_command, ["--backend", "fasttext"], input="Guten Morgen zusammen\n")
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert (record["lang"], record["backend"]) == ("de", "fasttext")
    assert 0.5 < record["confidence"] <= 1
    result = runner.invoke(lang_command, ["--languages", "es,pt"], input="Guten Morgen zusammen\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["lang"] in ("es", "pt")
    result = runner.invoke(lang_command, ["--backend", "bogus"], input="x\n")
    assert result.exit_code != 0
    result = runner.invoke(lang_command, ["--languages", "xx"], input="hello there\n")
    assert result.exit_code != 0 and "cannot detect xx" in result.output


def test_a_worker_preloads_the_campaign_s_scripts_first_and_no_model_it_cannot_need() -> None:
    from pipeline.enrich.langid.cascade import script_languages
    from pipeline.enrich.langid.lingua_backend import (
        CHEAP_TO_LOAD,
        COMMON,
        LANGUAGES,
        SCRIPTS,
        preload_order,
    )

    assert set(COMMON) <= LANGUAGES and len(set(COMMON)) == len(COMMON)
    order = preload_order(["ar", "en", "tr"])
    assert len(set(order)) == len(order) and set(order) <= LANGUAGES
    assert not {"ar", "en", "tr"} & set(order)  # loaded at start already
    latin_and_arabic = (SCRIPTS["latin"] | SCRIPTS["arabic"]) - {"ar", "en", "tr"}
    assert latin_and_arabic <= set(order)
    slow = [c for c in order if c not in CHEAP_TO_LOAD]
    # The slow-loading languages of the campaign's scripts first, the most posted-in first...
    assert set(slow[: len(latin_and_arabic - CHEAP_TO_LOAD)]) == latin_and_arabic - CHEAP_TO_LOAD
    assert slow.index("es") < slow.index("hu")
    # ...and those that load in a few ms last: left to first need, they stall nothing.
    assert order[len(slow) :] == [c for c in order if c in CHEAP_TO_LOAD]
    assert order.index("ru") < order.index("yo")
    # Korean, Thai, Hebrew: one language of lingua's per script, the cascade needs no model
    for text in ("안녕하세요 여러분", "สวัสดีครับ", "שלום לכולם"):
        alone = script_languages(text)
        assert alone is not None and len(alone) == 1 and not alone & set(order)
    unnamed = preload_order([])  # a campaign that names no language: Latin script, then common
    assert SCRIPTS["latin"] <= set(unnamed) and {"ru", "zh", "ja", "hi"} <= set(unnamed)
    assert CHEAP_TO_LOAD <= LANGUAGES


def test_a_language_loaded_alone_does_not_load_a_second_one_with_it() -> None:
    """lingua builds no detector of one language: the partner it needs is one already held
    (a partner loaded with it doubled a first-need stall: 0.19 s for Yoruba's 0.01 s)."""
    from pipeline.enrich.langid import lingua_backend

    lingua_backend.preload_high_accuracy(["en", "fr"])
    held = set(lingua_backend._loaded)
    new = sorted(lingua_backend.CHEAP_TO_LOAD - held)
    assert new, "every cheap model is loaded already: nothing left to check with"
    lingua_backend.preload_high_accuracy([new[0]])
    assert lingua_backend._loaded == held | {new[0]}


def test_lingua_leaders_are_the_head_of_its_full_row() -> None:
    """The cascade reads only the languages within `prune` of lingua's best: the same ones,
    in the same order, with the same values as in lingua's full row (to rounding: lingua's
    sums are not in a fixed order)."""
    from pipeline.enrich.langid import lingua_backend

    texts = [t for _, t in sample("word-pairs", 3)] + [t for _, t in sample("sentences", 1)]
    full = lingua_backend.confidences(texts, None, low_accuracy=True)
    heads = lingua_backend.confidences(texts, None, low_accuracy=True, above=0.001)
    for row, head in zip(full, heads, strict=True):
        assert len(row) == 75 and 1 <= len(head) < 75
        bar = row[0][1] * 0.001
        expected = [(code, p) for code, p in row if p > bar or code == row[0][0]]
        assert [c for c, _ in head] == [c for c, _ in expected]
        assert [p for _, p in head] == pytest.approx([p for _, p in expected])
