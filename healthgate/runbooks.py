"""The runbook section behind a check's link, read from the checkout's ``docs/runbooks`` pages, so a failure's
report carries the investigation and resolution steps themselves, not only a link to them."""

from __future__ import annotations

import functools
import re
from pathlib import Path

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*$")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@functools.lru_cache(maxsize=64)
def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def section(pages: Path, page: str, anchor: str, *, limit: int = 6000) -> str | None:
    """The text of ``page#anchor`` up to the next heading of the same or a higher level, or None."""
    text = _read(pages / page)
    if text is None:
        return None
    lines = text.splitlines()
    for start, line in enumerate(lines):
        match = _HEADING.match(line)
        if match and slug(match.group(2)) == anchor:
            level = len(match.group(1))
            body = []
            for following in lines[start + 1:]:
                heading = _HEADING.match(following)
                if heading and len(heading.group(1)) <= level:
                    break
                body.append(following)
            result = "\n".join([line, *body]).strip()
            return result[:limit]
    return None
