"""OAI-PMH datestamps: day (``YYYY-MM-DD``) or seconds (``YYYY-MM-DDThh:mm:ssZ``) granularity,
always UTC; held as naive UTC datetimes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from schemas.errors import ConfigError

DAY = "YYYY-MM-DD"
SECONDS = "YYYY-MM-DDThh:mm:ssZ"


def parse_datestamp(value: str) -> datetime:
    """Parse an OAI datestamp of either granularity; raise ValueError if it is neither."""
    value = value.strip()
    if len(value) == 10:
        return datetime.combine(date.fromisoformat(value), time())
    if value.endswith("Z"):
        value = value[:-1]
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed.replace(microsecond=0)


def format_datestamp(moment: datetime, granularity: str) -> str:
    """Render a datestamp at the server's granularity (day granularity truncates)."""
    if granularity == SECONDS:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.strftime("%Y-%m-%d")


#: What a date the user typed must look like (``--from``, ``from_date``).
NOT_A_DATE = "is not a date: use YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ"


def parse_user_date(value: str, option: str) -> datetime:
    """A date the user typed (``--from``/``--until``), with a one-line error if malformed."""
    try:
        return parse_datestamp(value)
    except ValueError:
        raise ConfigError(f"{option} {value!r} {NOT_A_DATE}") from None


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


#: How far a server's clock may run ahead of ours before its responseDate is not believed.
CLOCK_TOLERANCE = timedelta(days=1)


def server_clock(response_date: datetime, now: datetime | None = None) -> datetime:
    """A server's responseDate as harvests use it (windows, checkpoints, ``harvested_at``):
    a clock more than ``CLOCK_TOLERANCE`` ahead of ours is taken as ours, or a server that
    says it is 2999 would plan centuries of windows and pin every checkpoint there."""
    now = now or utc_now()
    return now if response_date > now + CLOCK_TOLERANCE else response_date
