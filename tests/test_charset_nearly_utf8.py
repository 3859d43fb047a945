"""A page declaring UTF-8 with a stray invalid byte is decoded as browsers do (WHATWG: U+FFFD for the
invalid sequence), not as mojibake in a legacy code page nor rejected as `charset_error`; the
replacement is counted. A legacy page mislabelled UTF-8 still falls back to its real charset."""

from __future__ import annotations

from test_extract_stage import ENGLISH_PAGE, response, rows

from pipeline.extract.charset import decode_html

CAFE = "<html><head><meta charset='utf-8'></head><body><p>Café crème at the corner, every morning.</p>"
# Russian, Greek and Chinese: far more non-ASCII text, where no single-byte code page fits
MANY_SCRIPTS = "<html><body><p>Привет, мир. Καλημέρα κόσμε. 你好，世界。東京の天気は晴れです。</p>" * 20


def with_stray_byte(page: str, at: int) -> bytes:
    return page[:at].encode("utf-8") + b"\xff" + page[at:].encode("utf-8")  # `at`: a character index


def test_declared_utf8_with_one_stray_byte_keeps_its_accents():
    text, codec, replaced = decode_html(with_stray_byte(CAFE, CAFE.index("every")) + b"</body>", "utf-8")
    assert "Café crème" in text and "CafÃ©" not in text and "CafГ©" not in text
    assert (codec, replaced, text.count("\ufffd")) == ("utf-8", 1, 1)


def test_meta_declared_or_undeclared_utf8_with_a_stray_byte_is_utf8():
    payload = with_stray_byte(CAFE, CAFE.index("every"))
    for header in (None, "no-such-charset"):  # the <meta> says UTF-8; the header says nothing usable
        assert decode_html(payload, header)[:2] == (CAFE.replace("every", "\ufffdevery"), "utf-8")


def test_many_scripts_with_one_stray_byte_is_no_charset_error():
    payload = with_stray_byte(MANY_SCRIPTS, 100)
    text, codec, replaced = decode_html(payload, "utf-8")
    assert (codec, replaced) == ("utf-8", 1)
    assert text.replace("\ufffd", "") == MANY_SCRIPTS


def test_body_cut_mid_character_is_utf8():
    payload = (CAFE + "Привет").encode("utf-8")[:-1]  # the crawler's size cap cut the last character
    text, codec, replaced = decode_html(payload, "utf-8")
    assert text.endswith("Приве\ufffd") and (codec, replaced) == ("utf-8", 1)


def test_literal_replacement_character_is_not_counted():
    text, codec, replaced = decode_html((CAFE + "\ufffd").encode() + b"\xff", "utf-8")
    assert (codec, replaced, text.count("\ufffd")) == ("utf-8", 1, 2)


def test_legacy_page_mislabelled_utf8_still_decodes_in_its_code_page():
    french = "Le café était très réputé à Montréal. Les élèves y étudiaient après l'école. " * 20
    text, codec, replaced = decode_html(french.encode("cp1252"), "utf-8")  # no valid multi-byte sequence
    assert codec != "utf-8" and replaced == 0 and "café était très réputé" in text
    quotes = "He said \u201chello\u201d and left \u2014 twice."
    assert decode_html(quotes.encode("cp1252"), "utf-8").text == quotes


def test_declared_legacy_charset_that_decodes_is_trusted_over_nearly_valid_utf8():
    # "Ні" in windows-1251 is CD B3, a valid UTF-8 pair; the lone "і" (B3) is not: the label wins
    text, codec, _ = decode_html("Ні, і так.".encode("cp1251"), "windows-1251")
    assert (text, codec) == ("Ні, і так.", "cp1251")


def test_extract_stage_keeps_the_page_and_counts_the_replacement():
    page = ENGLISH_PAGE.replace("regular rise", "régulière rise").replace("Fundy", "Fundy café")
    body = with_stray_byte(page, page.index("Most coasts"))
    clean, stray = rows([response(body=page.encode()), response(url="https://example.org/b", body=body)])
    assert stray["drop_reason"] is None and stray["charset"] == "utf-8"
    assert "régulière rise" in stray["text"] and "Ã" not in stray["text"]
    assert (clean["charset_replaced"], stray["charset_replaced"]) == (0, 1)
