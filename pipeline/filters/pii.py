"""PII detection and replacement: the document is kept, each detected span becomes a placeholder.

Types (regex for candidates, then a validity check that removes most false positives):
- email: local@domain.tld.
- phone: international with "+" or "00" prefix (8-15 digits, E.164), North American numbers with
  separators ((555) 123-4567, 555.123.4567, +1-202-555-0143, optional "x123" extension), and national
  numbers with a trunk "0" and grouped digits (020 7946 0958, 01.84.17.61.18; 9-11 digits). Bare digit
  runs and short local numbers (467 3395) are left alone: in web text they are mostly not phones.
- ip: IPv4 / IPv6 literals that `ipaddress` calls global. Private, loopback, link-local, multicast,
  reserved and documentation ranges (192.0.2.0/24, 2001:db8::/32, ...) are nobody's address: kept.
- card: 13-19 digits with optional space/dash separators, Luhn-valid, with a known issuer prefix.
- ssn: US SSN written AAA-GG-SSSS (or with spaces); SSA rules: area not 000, 666 or 9xx, group not
  00, serial not 0000.
- iban: ISO 13616: country code, length from the SWIFT registry table, mod-97 == 1.

Before matching, compatibility forms are folded one character to one character (so offsets stay
those of the original text): decimal digits of every script to ASCII ("٤١١١", "۴۴", "१२३" and the
full-width "４" are 4111, 44, 123 and 4, as `unicodedata.decimal` reads them), full-width letters
and signs (NFKC's width folding: "＋" is "+"), the dash variants (en/em dash, minus sign,
non-breaking hyphen) to "-", and the Unicode spaces to " ". Emails also match with Unicode letters (josé.müller@exämple.de), a quoted local part
("john smith"@example.com) and the "name at domain dot com" / "name [at] domain [dot] com"
obfuscations; cards and IBANs also with "." and "-" group separators.

Overlapping candidates are resolved by type priority (the order of `TYPES`), then by length, in time
linear in the text (an occupancy map, not pairwise comparisons: 40 k IP-like spans took 43 s).
Placeholders hold no digit and no "@", so a second pass finds nothing: replacement is idempotent.
Rows already dropped by an earlier rule are redacted too: rejected rows are written to disk as well.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
import pyarrow as pa

from pipeline.config import default, non_negative, within
from pipeline.extract.html import ExtractionTimeout, time_budget
from pipeline.rules import Rule, names
from pipeline.schema import set_column
from pipeline.settings import Frozen, Section
from pipeline.stage import Stage, first_failure

TYPES = ("email", "iban", "card", "ssn", "ip", "phone")  # priority order for overlapping spans
DEFAULT_PLACEHOLDERS: dict[str, str] = default("filter.pii.placeholders")  # configs/default.yaml
# every type needs a digit, an "@" or (obfuscated emails) a "dot" (global IPv6 starts with 2 or 3)
MAYBE_PII = re.compile(r"[0-9@]|\bdot\b", re.IGNORECASE)
OBFUSCATION_HINT = re.compile(r"\bdot\b", re.IGNORECASE)

# One character to one character, so spans found in the folded text are spans of the original.
_FOLD = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}  # full-width ASCII forms (NFKC width folding)
# Decimal digits (category Nd) of every script; none lies past plane 1, so the scan stops there.
_FOLD.update({cp: ord("0") + int(chr(cp)) for cp in range(0x20000) if chr(cp).isdecimal() and cp > 0x7F})
_FOLD.update(
    {cp: ord("-") for cp in (0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2015, 0x2212, 0xFE58, 0xFE63)}
)
_FOLD.update({cp: ord(" ") for cp in (0x00A0, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000)})
FOLD_TABLE = _FOLD

_DOMAIN = r"(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,24}"  # Unicode (IDN) labels, letter TLD
EMAIL_RE = re.compile(r"(?<![\w.%+-])(?:[^\W_][\w.%+-]{0,63}|\"[^\"\n@]{1,62}\")@" + _DOMAIN + r"(?![\w-])")
# "name at domain dot com", "name [at] domain [dot] com", "name(at)domain(dot)com": the plain-word form
# needs a common TLD after "dot" ("looked at it dot by dot" is no address).
_AT = r"(?:\s*[\[({<]\s*at\s*[\])}>]\s*|\s+at\s+)"
_DOT = r"(?:\s*[\[({<]\s*dot\s*[\])}>]\s*|\s+dot\s+)"
OBFUSCATED_EMAIL_RE = re.compile(
    r"(?<![\w.+-])[^\W_][\w.+-]{0,63}"
    + _AT
    + r"[^\W_][\w-]{0,62}(?:"
    + _DOT
    + r"[^\W_][\w-]{0,62})*"
    + _DOT
    + r"(?:com|org|net|edu|gov|info|io|co|uk|de|fr|ca|au|us|eu|nl|es|it|ru|ch|jp|in|br)\b",
    re.IGNORECASE,
)
_SEP = r"[ .\-]?"
PHONE_RES = (
    # international: +CC or 00CC, then digit groups (one may be "(0)" or parenthesised), optional extension
    re.compile(
        r"(?<![\w+])(?:\+|00)[1-9]\d{0,2}(?:[ .\-]?(?:\(\d{1,4}\)|\d{1,5})){1,6}(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?!\w)"
    ),
    # North American (any digits: 555-123-4567 style fakes count too): (NPA) NXX-XXXX, NPA-NXX-XXXX, NPA.NXX.XXXX, with optional +1/1 prefix and extension
    re.compile(
        r"(?<![\w+])(?:1[ .\-]?)?(?:\(\d{3}\)\s?|\d{3}[ .\-])\d{3}[ .\-]\d{4}"
        r"(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?!\w)"
    ),
    # national with trunk 0: 020 7946 0958, 0490 75 40 81, (08) 8747 6301, 01.84.17.61.18, 0961-7596216
    re.compile(r"(?<![\w+])(?:\(0[1-9]\d{0,3}\)|0[1-9]\d{0,3})(?:[ .\-]\d{2,8}){1,4}(?!\w)"),
)
PHONE_DIGITS = {0: (8, 15), 1: (10, 11), 2: (9, 11)}  # digit-count bounds per pattern (extension excluded)
IPV4_RE = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
# IPv6 candidates: hex groups and colons (2+ colons), optionally ending in an IPv4; `ipaddress` decides.
IPV6_RE = re.compile(
    r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}|:)(?::[0-9A-Fa-f]{0,4}){2,7}(?:(?<=:)\d{1,3}(?:\.\d{1,3}){3})?(?![\w:])"
)
CARD_RE = re.compile(r"(?<![\d\-])\d(?:[ \-]?\d){12,18}(?![\d\-]|\.\d)")
# dots only in the printed groupings (4-4-4-4[-3], Amex 4-6-5): a dotted digit run is mostly a number
DOTTED_CARD_RE = re.compile(
    r"(?<![\d.])\d{4}\.(?:\d{4}\.\d{4}\.\d{4}(?:\.\d{1,3})?|\d{6}\.\d{5})(?![\d]|\.\d)"
)
SSN_RE = re.compile(r"(?<![\d\-])(\d{3})([\- ])(\d{2})\2(\d{4})(?![\d\-])")
IBAN_RE = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ \-]?[A-Za-z0-9]{4}){2,7}(?:[ \-]?[A-Za-z0-9]{1,3})?(?![A-Za-z0-9])"
)

# Each regex above opens with a look-behind, so `re` tries it at every position of a text. A match
# always contains a match of its gate, a pattern without look-arounds that `re` finds by skipping ahead
# in C to its first character: a text where the gate finds nothing cannot hold a match, and most web
# text holds no run of digits shaped like a card, an SSN or an IP address (tests/test_pii.py checks
# that every match contains its gate's).
GATES: dict[re.Pattern, re.Pattern] = {
    PHONE_RES[0]: re.compile(r"(?:\+|00)[1-9]"),
    PHONE_RES[1]: re.compile(r"\d{3}[ .\-]\d{4}"),
    PHONE_RES[2]: re.compile(r"0[1-9]\d{0,3}\)?[ .\-]\d\d"),
    IPV4_RE: re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d"),
    CARD_RE: re.compile(r"\d(?:[ \-]?\d){12}"),
    DOTTED_CARD_RE: re.compile(r"\d{4}\.\d{4}"),
    SSN_RE: re.compile(r"\d{3}[\- ]\d{2}[\- ]\d{4}"),
    IBAN_RE: re.compile(r"\d\d(?:[ \-]?[A-Za-z0-9]{4}){2}"),
}


def _finditer(regex: re.Pattern, text: str):
    """`regex.finditer(text)`, skipped when its gate finds nothing (see GATES)."""
    gate = GATES.get(regex)
    return () if gate is not None and not gate.search(text) else regex.finditer(text)


# IBAN length per country, SWIFT IBAN registry (ISO 13616).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
    "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
    "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip

# Card issuer prefixes (IIN ranges) with their lengths: Visa, Mastercard (51-55, 2221-2720), Amex,
# Discover, Diners Club, JCB (incl. the legacy 15-digit 1800/2131), UnionPay, Maestro.
CARD_IINS: tuple[tuple[int, int, tuple[int, ...]], ...] = (
    (4, 4, (13, 16, 19)),
    (51, 55, (16,)),
    (2221, 2720, (16,)),
    (34, 34, (15,)),
    (37, 37, (15,)),
    (6011, 6011, (16, 17, 18, 19)),
    (644, 649, (16, 17, 18, 19)),
    (65, 65, (16, 17, 18, 19)),
    (300, 305, (14, 15, 16, 17, 18, 19)),
    (36, 36, (14, 15, 16, 17, 18, 19)),
    (38, 39, (14, 15, 16, 17, 18, 19)),
    (3528, 3589, (16, 17, 18, 19)),
    (1800, 1800, (15,)),
    (2131, 2131, (15,)),
    (62, 62, (16, 17, 18, 19)),
    (50, 50, (13, 14, 15, 16, 17, 18, 19)),  # Maestro also issues 12-digit cards: too ambiguous in web text
    (56, 69, (13, 14, 15, 16, 17, 18, 19)),
)


class Span(NamedTuple):
    start: int
    end: int
    type: str


# --- validity checks ------------------------------------------------------------------------------
def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)  # any script's decimal digit, not only ASCII
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_valid(digits: str) -> bool:
    if not 13 <= len(digits) <= 19 or not luhn_valid(digits):
        return False
    for low, high, lengths in CARD_IINS:
        width = len(str(low))
        if low <= int(digits[:width]) <= high and len(digits) in lengths:
            return True
    return False


def ssn_valid(area: str, group: str, serial: str) -> bool:
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def iban_valid(candidate: str) -> bool:
    iban = candidate.replace(" ", "").replace("-", "").upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def ip_public(candidate: str) -> bool:
    try:
        return ipaddress.ip_address(candidate).is_global
    except ValueError:
        return False


# --- detection ----------------------------------------------------------------------------------
def _digits(s: str) -> str:
    return "".join(ch for ch in s if ch.isdecimal())  # what `\d` matches: no superscripts


def _find_type(text: str, kind: str) -> list[Span]:
    out: list[Span] = []
    if kind == "email":
        if "@" in text:
            out = [Span(m.start(), m.end(), kind) for m in EMAIL_RE.finditer(text)]
        if OBFUSCATION_HINT.search(text):
            out += [Span(m.start(), m.end(), kind) for m in OBFUSCATED_EMAIL_RE.finditer(text)]
    elif kind == "phone":
        for i, regex in enumerate(PHONE_RES):
            low, high = PHONE_DIGITS[i]
            for m in _finditer(regex, text):
                number = re.split(r"\s?(?:x|ext)", m.group(), maxsplit=1)[0]
                if low <= len(_digits(number)) <= high:
                    out.append(Span(m.start(), m.end(), kind))
    elif kind == "ip":
        out = [Span(m.start(), m.end(), kind) for m in _finditer(IPV4_RE, text) if ip_public(m.group())]
        if ":" in text:
            out += [Span(m.start(), m.end(), kind) for m in IPV6_RE.finditer(text) if ip_public(m.group())]
    elif kind == "card":
        matches = [*_finditer(CARD_RE, text), *(_finditer(DOTTED_CARD_RE, text) if "." in text else ())]
        out = [Span(m.start(), m.end(), kind) for m in matches if card_valid(_digits(m.group()))]
    elif kind == "ssn":
        out = [
            Span(m.start(), m.end(), kind) for m in _finditer(SSN_RE, text) if ssn_valid(*m.group(1, 3, 4))
        ]
    elif kind == "iban":
        out = [Span(m.start(), m.end(), kind) for m in _finditer(IBAN_RE, text) if iban_valid(m.group())]
    else:
        raise ValueError(f"unknown PII type {kind!r} (known: {TYPES})")
    return out


def find_pii(text: str, types: tuple[str, ...] | list[str] = TYPES) -> list[Span]:
    """Non-overlapping PII spans in text order; on overlap the higher-priority type wins."""
    if text and not text.isascii():
        text = text.translate(FOLD_TABLE)  # same length: spans index the original text; digits now ASCII
    if not text or not MAYBE_PII.search(text):  # the cheap pre-check, on the folded text
        return []
    candidates = [span for kind in TYPES if kind in types for span in _find_type(text, kind)]
    rank = {kind: i for i, kind in enumerate(TYPES)}
    candidates.sort(key=lambda s: (rank[s.type], -(s.end - s.start), s.start))
    # Occupancy map: each candidate checks and marks only its own characters, so resolving n spans
    # costs their total length, not n * n comparisons.
    used = bytearray(len(text))
    taken: list[Span] = []
    for span in candidates:
        if 1 not in used[span.start : span.end]:
            used[span.start : span.end] = b"\x01" * (span.end - span.start)
            taken.append(span)
    return sorted(taken)


def redact(text: str, spans: list[Span], placeholders: dict[str, str]) -> str:
    parts, pos = [], 0
    for span in spans:
        parts.append(text[pos : span.start])
        parts.append(placeholders[span.type])
        pos = span.end
    parts.append(text[pos:])
    return "".join(parts)


@dataclass(frozen=True)
class PiiSettings(Section):
    """Owner of the placeholders: the tokenizer (shards) keeps them as user-defined symbols."""

    PATH = "filter.pii"
    enabled: bool
    types: tuple[str, ...]
    placeholders: Frozen
    max_pii_hits: int | None = non_negative()
    timeout_s: float = within(0, 3600, low_open=True)


class PiiFilter(Stage):
    name: ClassVar[str] = "filter"
    Settings = PiiSettings
    section: ClassVar[str] = Settings.PATH.removeprefix("filter.")  # its key under `filter:`
    RULES: ClassVar[tuple[Rule, ...]] = (
        Rule("filter", "pii_too_many", "filter.pii.max_pii_hits", "<=", "pii_hits", "no published threshold"),
    )
    rules: ClassVar[tuple[str, ...]] = ("pii_timeout", *names(RULES))  # pii_timeout: the CPU budget
    signals: ClassVar[tuple[pa.Field, ...]] = (
        *(pa.field(f"pii_{kind}", pa.int32()) for kind in TYPES),
        pa.field("pii_hits", pa.int32()),  # all types together: what max_pii_hits limits
    )

    def __init__(self, cfg: dict[str, Any]):
        super().__init__(cfg)
        self.settings = PiiSettings.from_section(cfg)
        self.types = self.settings.types
        unknown = set(self.types) - set(TYPES)
        if unknown:
            raise ValueError(f"filter.pii.types: unknown {sorted(unknown)} (known: {list(TYPES)})")
        self.placeholders = {**DEFAULT_PLACEHOLDERS, **self.settings.placeholders}
        for kind, token in self.placeholders.items():
            if find_pii(token) or MAYBE_PII.search(token):
                raise ValueError(f"filter.pii.placeholders.{kind}: {token!r} must hold no digit or '@'")
        self.timeout_s = float(self.settings.timeout_s or 0)

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        texts = batch.column("text").to_pylist()
        counts = {kind: np.zeros(len(texts), dtype=np.int32) for kind in TYPES}
        timed_out = [False] * len(texts)
        for i, text in enumerate(texts):
            try:
                with time_budget(self.timeout_s):  # hostile text must not hold the stage (like extract's)
                    spans = find_pii(text, self.types) if text else []
            except ExtractionTimeout:
                timed_out[i], texts[i] = True, None  # unredacted text is never written, not even rejected
                continue
            if spans:
                for span in spans:
                    counts[span.type][i] += 1
                texts[i] = redact(text, spans, self.placeholders)
        batch = set_column(batch, "text", pa.array(texts, pa.string()))
        for kind in TYPES:
            batch = set_column(batch, f"pii_{kind}", pa.array(counts[kind], pa.int32()))
        total = sum(counts.values())
        batch = set_column(batch, "pii_hits", pa.array(total, pa.int32()))
        (rule,) = self.RULES
        return first_failure(
            batch,
            self.name,
            [("pii_timeout", timed_out), (rule.name, rule.fails(total, rule.limit_in(self.cfg)).tolist())],
        )
