"""What identifies a harvest: (endpoint, metadata prefix, set). Each identity has its own
checkpoint, its own runs and its own folder in the raw archive."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit


@dataclass(frozen=True)
class HarvestSpec:
    endpoint: str
    metadata_prefix: str
    set_spec: str | None = None

    @property
    def harvest_id(self) -> str:
        """Readable and stable: ``<host>-<prefix>-<set>-<hash>``."""
        digest = hashlib.sha256(
            "\n".join((self.endpoint, self.metadata_prefix, self.set_spec or "")).encode()
        ).hexdigest()[:10]
        host = urlsplit(self.endpoint).netloc or "endpoint"
        readable = f"{host}-{self.metadata_prefix}-{self.set_spec or 'all'}"
        return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', readable)[:80]}-{digest}"


def new_run_id(now: datetime) -> str:
    """Run ids sort in the order runs started."""
    return now.strftime("r%Y%m%dT%H%M%S%fZ")
