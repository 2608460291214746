"""Interoperability: harvesting a third-party OAI-PMH server implementation (the ``oaipmh``
package from PyPI) serving RePEc-style records, on 127.0.0.1."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from conftest import harvest, query
from interop_server import independent_oai_server
from lxml import etree

from flows.datadir import DataDir
from provider.store import RecordStore

DC = "{http://purl.org/dc/elements/1.1/}"


def sample_as_dc_records() -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """The bundled sample, handed to the independent server as plain Dublin Core."""
    store = RecordStore.sample()
    records = []
    for record in store.records():
        dc: dict[str, list[str]] = defaultdict(list)
        if not record.deleted:
            for element in etree.fromstring(record.metadata["oai_dc"]):
                dc[etree.QName(element).localname].append(element.text or "")
        records.append(
            {
                "identifier": record.identifier,
                "datestamp": record.datestamp,
                "sets": record.sets,
                "deleted": record.deleted,
                "dc": dict(dc),
            }
        )
    return records, store.sets


def test_every_record_exactly_once_then_exactly_the_changes(data: DataDir) -> None:
    records, sets = sample_as_dc_records()
    with independent_oai_server(records, sets, page_size=7) as url:
        [first] = harvest(data, url)
        assert first.run is not None and first.run.status == "complete"
        assert first.spec.metadata_prefix == "oai_dc"  # the only format it offers
        assert first.run.records == len(records)
        assert query(data, "SELECT count(*), count(DISTINCT handle_key) FROM articles") == [
            (len(records), len(records))
        ]
        live = sum(not r["deleted"] for r in records)
        assert query(data, "SELECT count(*) FROM live_articles") == [(live,)]

        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for record in records[3], records[10]:
            record["dc"]["title"] = ["Changed: " + record["dc"]["title"][0]]
            record["datestamp"] = now

        [second] = harvest(data, url)

    assert second.run is not None and second.run.records == 2
    changed = query(data, "SELECT oai_identifier FROM articles WHERE title LIKE 'Changed: %'")
    assert sorted(c[0] for c in changed) == sorted(
        [records[3]["identifier"], records[10]["identifier"]]
    )
    assert query(data, "SELECT count(*) FROM articles") == [(len(records),)]


def test_reconciliation_deletes_what_a_server_without_deletions_dropped(data: DataDir) -> None:
    """A server that keeps no deletions (``transient``) simply stops listing a record: the
    weekly reconciliation makes it deleted in the warehouse, and nothing else."""
    from flows.options import HarvestOptions
    from flows.reconcile import APPLIED, reconcile_all

    records, sets = sample_as_dc_records()
    with independent_oai_server(records, sets, page_size=7) as url:
        harvest(data, url)
        time.sleep(1.1)  # items harvested in the second the listing begins are not judged
        dropped = [r for r in records if not r["deleted"]][:2]
        for record in dropped:
            records.remove(record)
        options = HarvestOptions(endpoint=url, delay=0, retries=1, backoff=0.01)
        [result] = reconcile_all(data, [options])

    rec = result.reconciliation
    assert rec is not None and (rec.status, rec.vanished, rec.tombstoned) == (APPLIED, 2, 2)
    gone = query(data, "SELECT oai_identifier FROM articles WHERE deleted AND oai_identifier IN "
                 f"({', '.join(repr(r['identifier']) for r in dropped)})")  # fmt: skip
    assert len(gone) == 2
    live = sum(not r["deleted"] for r in records)
    assert query(data, "SELECT count(*) FROM live_articles") == [(live,)]
