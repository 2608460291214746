"""Links: the paths of this app's pages, and what may be the target of a link at all (for
the templates and the charts alike).

Harvested URLs are anyone's text: a ``javascript:`` or ``data:`` URL in a record is shown as
text, never made a link. A link goes to a path of this site or to an http, https or ftp URL
with a host; anything else is refused.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

#: The schemes a link may go to outside this site.
SCHEMES = ("http", "https", "ftp")
#: In a path of this site: characters that are unencoded or tricks (a backslash is a slash
#: to a browser, so ``/\\host`` is another site).
_UNSAFE_PATH = re.compile(r"[\x00-\x20\x7f\\<>\"`]")
#: Left as they are when an outside URL is percent-encoded (its structure and its escapes).
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


def safe_href(url: str | None) -> str | None:
    """``url`` as a link's target: an http(s) or ftp URL with a host (spaces and quotes
    percent-encoded), or a path of this site (``/x``, ``x?y=1``, ``?page=2``, ``#top``);
    None for anything else."""
    if not url or not url.strip():
        return None
    url = url.strip()
    parts = urlsplit(url)  # (drops tabs and newlines, as browsers do)
    if parts.scheme:
        if parts.scheme.lower() not in SCHEMES or not parts.netloc:
            return None
        return quote(url, safe=_URL_SAFE)
    if _UNSAFE_PATH.search(url) or url.startswith("//"):
        return None
    return url


def outside_href(url: str | None) -> str | None:
    """``url`` as a link's target if it is an http, https or ftp URL (``safe_href``): what a
    harvested URL may be; a harvested ``paper.pdf`` is no path of this site."""
    href = safe_href(url)
    return href if href is not None and urlsplit(href).scheme else None


def item_url(handle: str) -> str:
    """An item's path in this app: its persistent link's path."""
    return "/" + quote(handle, safe=":")


def series_url(handle: str) -> str:
    return "/series/" + quote(handle, safe=":")


def author_url(person: dict[str, Any]) -> str:
    """An author's page: by RePEc short-id where known, else by the name as written."""
    if person.get("short_id"):
        return "/author/" + quote(person["short_id"], safe="")
    return "/author?" + urlencode({"name": person["name"]})


def search_url(**query: str) -> str:
    return "/search?" + urlencode(query)
