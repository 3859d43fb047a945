"""WARC-Date and ARC dates as UTC datetimes, tolerant of the odd forms real archives hold."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_DATE = re.compile(
    r"(\d{4})-?(\d{2})-?(\d{2})\d*(?:[T ]?(\d{2}):?(\d{2})(?::?(\d{2}))?)?(Z|[+-]\d{2}:?\d{2})?"
)


def parse_warc_date(value: str | None) -> datetime | None:
    """WARC-Date (ISO 8601) or ARC date (14 digits) as a UTC datetime; None if hopeless.

    Tolerates the odd forms real archives hold: ClueWeb09's "2008-10-294T05:21:46-0700" (an extra
    day digit, dropped), 18-digit ARC dates, fractional seconds, missing time or zone (taken as UTC).
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit() and len(value) >= 8:  # ARC: YYYYMMDDhhmmss, sometimes longer
        digits = (value[:14] + "000000")[:14]
        try:
            return datetime.strptime(digits, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        except ValueError:
            return None
    try:
        dt = datetime.fromisoformat(value)
        return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)
    except ValueError:
        pass
    m = _DATE.match(value)
    if not m:
        return None
    y, mo, d, h, mi, s, zone = m.groups()
    try:
        dt = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), tzinfo=UTC)
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[-2:])
        dt = dt.replace(tzinfo=None) - sign * (datetime(1, 1, 1, hours, minutes) - datetime(1, 1, 1))
        dt = dt.replace(tzinfo=UTC)
    return dt
