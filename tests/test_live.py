"""Against the real RePEc gateway. Skipped unless REPEC_LIVE=1 (machines here are offline)."""

from __future__ import annotations

import os

import pytest

from harvesting.client import OAIClient

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(os.environ.get("REPEC_LIVE") != "1", reason="set REPEC_LIVE=1 to run"),
]


def test_identify_and_formats_of_oai_repec_org() -> None:
    client = OAIClient("https://oai.repec.org/", contact=os.environ.get("REPEC_HARVEST_CONTACT"))
    identity, _ = client.identify()
    formats, _ = client.list_metadata_formats()

    assert identity.granularity in ("YYYY-MM-DD", "YYYY-MM-DDThh:mm:ssZ")
    assert "oai_dc" in formats
