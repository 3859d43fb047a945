"""PII written with the decimal digits of other scripts (Arabic-Indic, Persian, Devanagari, Bengali,
Thai ...) is found like its ASCII form, at the original offsets, and replaced by the filter stage."""

from __future__ import annotations

import pyarrow as pa
import pytest

from pipeline.filters.pii import PiiFilter, find_pii, luhn_valid

OTHER_SCRIPTS = [
    ("card ٤١١١ ١١١١ ١١١١ ١١١١", "٤١١١ ١١١١ ١١١١ ١١١١", "card"),  # Arabic-Indic
    ("tel +۴۴ ۲۰ ۷۹۴۶ ۰۹۵۸", "+۴۴ ۲۰ ۷۹۴۶ ۰۹۵۸", "phone"),  # Persian (extended Arabic-Indic)
    ("ssn १२३-४५-६७८९", "१२३-४५-६७८९", "ssn"),  # Devanagari
    ("IBAN DE৮৯ ৩৭০৪ ০০৪৪ ০৫৩২ ০১৩০ ০০ ok", "DE৮৯ ৩৭০৪ ০০৪৪ ০৫৩২ ০১৩০ ০০", "iban"),  # Bengali
    ("server ๘.๘.๘.๘ down", "๘.๘.๘.๘", "ip"),  # Thai
    ("call (٢٠٢) ٥٥٥-٠١٤٣ today", "(٢٠٢) ٥٥٥-٠١٤٣", "phone"),  # North American form
]


@pytest.mark.parametrize("text, pii, kind", OTHER_SCRIPTS)
def test_pii_in_other_scripts_digits_is_found_at_original_offsets(text, pii, kind):
    assert [(text[s.start : s.end], s.type) for s in find_pii(text)] == [(pii, kind)]


def test_luhn_reads_any_scripts_digits():
    assert luhn_valid("٤١١١١١١١١١١١١١١١")
    assert not luhn_valid("٤١١١١١١١١١١١١١١٢")


@pytest.mark.parametrize("text", ["x² + y³ = 4111", "٣٫١٤١٥٩ and ١٢٣٤", "page ٤٢ of ١٠٠"])
def test_other_scripts_numbers_that_are_no_pii_are_kept(text):
    assert find_pii(text) == []


def test_filter_stage_replaces_other_scripts_pii_with_placeholders():
    texts = [f"Kontakt: {text}" for text, _, _ in OTHER_SCRIPTS[:3]]
    batch = pa.RecordBatch.from_pydict({"text": texts, "drop_reason": pa.array([None] * 3, pa.string())})
    out = PiiFilter({}).apply(batch).to_pydict()
    assert out["text"] == ["Kontakt: card <CARD_NUMBER>", "Kontakt: tel <PHONE>", "Kontakt: ssn <SSN>"]
    assert (out["pii_card"], out["pii_phone"], out["pii_ssn"]) == ([1, 0, 0], [0, 1, 0], [0, 0, 1])
