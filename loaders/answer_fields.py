"""Small parsers of API answer fields the recommendation mappings share (no I/O): optional
text and timestamps, each ValueError naming the field when it cannot be read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def text(value: Any) -> str | None:
    """The value as text; None when absent or empty."""
    return None if value is None or value == "" else str(value)


def timestamp(value: Any, field: str) -> datetime | None:
    """A naive UTC datetime from an ISO 8601 string, epoch seconds or a datetime (as boto3
    hands JSON-protocol timestamps); None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        moment = datetime.fromtimestamp(value, UTC)
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{field} is not a timestamp: {value!r}") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment
