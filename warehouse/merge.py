"""Upserting item versions and merging them into ``articles`` and ``authors``.

Each source (``oai_dc``, ``amf``, ``redif``) keeps its latest version of every item in
``article_versions``/``author_versions``: the newest datestamp wins, on a tie the later
harvest; a deletion keeps the version's last metadata with ``deleted = true``. ``articles``
then holds one row per handle, merged field by field: the first live source in the order
ReDIF, amf, oai_dc that has a value gives it (deleted versions only when no live one has it),
and ``field_sources`` says which source each field came from. An item is deleted when every
version of it is. ``authors`` are those of the best source that lists any.

Memory stays bounded whatever the batch: the temporary tables hold keys and record ids only
(full rows are read from the Parquet files when inserted), and items with a single version
(the common case: one source) are copied without the per-handle aggregation.
"""

from __future__ import annotations

from schemas.tables import (
    ARTICLES,
    LISTING_OPTIONAL,
    MERGED_COLUMNS,
    MERGED_LATER,
    SOURCE_PRECEDENCE,
    TEMPLATE_ONLY,
)


def _rank(alias: str = "") -> str:
    """A source's precedence (1 is best) as SQL; ``alias`` qualifies the column (``v.``)."""
    cases = " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(SOURCE_PRECEDENCE, start=1))
    return f"CASE {alias}metadata_prefix {cases} ELSE {len(SOURCE_PRECEDENCE) + 1} END"


def _key(alias: str = "") -> str:
    """Lower is better: live before deleted, then by source precedence. Unique per handle (one
    version per source), so ``arg_min`` over it picks the best version: a plain aggregate that
    DuckDB can spill, unlike ``first(... ORDER BY ...)``, which buffered every group."""
    return f"(CASE WHEN {alias}deleted THEN 100 ELSE 0 END + {_rank(alias)})"


_RANK = _rank()
_KEY = _key()
_LISTS = {f.name for f in ARTICLES if str(f.type).startswith("list")}

_NEWER = """(a.handle_key IS NULL
   OR i.datestamp > a.datestamp
   OR (i.datestamp = a.datestamp AND (i.harvested_at > a.harvested_at
       OR (i.harvested_at = a.harvested_at AND i.record_id >= a.record_id))))"""

UPSERT_VERSIONS = f"""
CREATE OR REPLACE TEMP TABLE incoming_rows AS
SELECT record_id, handle, handle_key, metadata_prefix, deleted, datestamp, harvested_at,
       oai_identifier
FROM read_parquet($articles, hive_partitioning = false);

-- A deletion carries only the OAI identifier. Where the endpoint's identifiers are not RePEc
-- handles, the live record was keyed by the handle in its metadata: find it by identifier.
-- (Only the batch's deleted identifiers are looked up: memory follows the batch, not the
-- warehouse.)
UPDATE incoming_rows SET handle = known.handle, handle_key = known.handle_key
FROM (SELECT DISTINCT ON (oai_identifier) oai_identifier, handle, handle_key FROM (
          SELECT oai_identifier, handle, handle_key FROM article_versions WHERE NOT deleted
          UNION ALL
          SELECT oai_identifier, handle, handle_key FROM incoming_rows WHERE NOT deleted)
      WHERE oai_identifier IN (SELECT oai_identifier FROM incoming_rows WHERE deleted)) known
WHERE incoming_rows.deleted AND incoming_rows.oai_identifier = known.oai_identifier
  AND incoming_rows.handle_key <> known.handle_key;

-- The newest live version and the newest deletion of each item in the batch, apart: a batch
-- may hold several windows, and a deletion must keep the metadata of the live version before
-- it exactly as if the windows had been loaded one by one.
CREATE OR REPLACE TEMP TABLE incoming AS
SELECT * FROM incoming_rows
QUALIFY row_number() OVER (PARTITION BY handle_key, metadata_prefix, deleted
                           ORDER BY datestamp DESC, harvested_at DESC, record_id DESC) = 1;
DROP TABLE incoming_rows;

-- Live versions first: newer than the stored version (of either kind) wins.
CREATE OR REPLACE TEMP TABLE winners AS
SELECT i.* FROM incoming i
LEFT JOIN article_versions a USING (handle_key, metadata_prefix)
WHERE NOT i.deleted AND {_NEWER};

DELETE FROM article_versions WHERE (handle_key, metadata_prefix) IN (
    SELECT (handle_key, metadata_prefix) FROM winners);
INSERT INTO article_versions BY NAME
SELECT r.* EXCLUDE (handle, handle_key), w.handle, w.handle_key
FROM read_parquet($articles, hive_partitioning = false) r JOIN winners w USING (record_id);
DELETE FROM author_versions WHERE (handle_key, metadata_prefix) IN (
    SELECT (handle_key, metadata_prefix) FROM winners);

-- Then deletions, against what is stored now (a newer live version in the batch wins).
INSERT INTO winners BY NAME
SELECT i.* FROM incoming i
LEFT JOIN article_versions a USING (handle_key, metadata_prefix)
WHERE i.deleted AND {_NEWER};
DROP TABLE incoming;

CREATE OR REPLACE TEMP TABLE deletions AS
SELECT r.* EXCLUDE (handle, handle_key), w.handle, w.handle_key
FROM read_parquet($articles, hive_partitioning = false) r JOIN winners w USING (record_id)
WHERE w.deleted;

-- A deletion keeps the metadata of the version it replaces (stored as it came where there is
-- none). Rows are replaced (delete, insert), not updated: the lakehouse's UPDATE reads every
-- column of the table, this reads the batch's deletions only.
CREATE OR REPLACE TEMP TABLE tombstones AS
SELECT a.* REPLACE (true AS deleted, d.datestamp AS datestamp, d.harvested_at AS harvested_at,
                    d.record_id AS record_id, d.set_specs AS set_specs,
                    d.oai_identifier AS oai_identifier, d.endpoint AS endpoint,
                    d.harvest_id AS harvest_id)
FROM article_versions a JOIN deletions d USING (handle_key, metadata_prefix);
INSERT INTO tombstones BY NAME
SELECT * FROM deletions d
WHERE NOT EXISTS (SELECT 1 FROM tombstones t
    WHERE t.handle_key = d.handle_key AND t.metadata_prefix = d.metadata_prefix);
DROP TABLE deletions;

DELETE FROM article_versions WHERE (handle_key, metadata_prefix) IN (
    SELECT (handle_key, metadata_prefix) FROM tombstones);
INSERT INTO article_versions BY NAME SELECT * FROM tombstones;
DROP TABLE tombstones;
"""

INSERT_AUTHOR_VERSIONS = """
INSERT INTO author_versions BY NAME
SELECT au.*, w.metadata_prefix FROM read_parquet($authors, hive_partitioning = false) au
JOIN winners w ON au.record_id = w.record_id WHERE NOT w.deleted;
"""


def _present(column: str) -> str:
    return f"len({column}) > 0" if column in _LISTS else f"{column} IS NOT NULL"


def _pick(column: str) -> str:
    value = f"arg_min({column}, {_KEY}) FILTER (WHERE {_present(column)})"
    return f"coalesce({value}, []) AS {column}" if column in _LISTS else f"{value} AS {column}"


def _source_of(column: str) -> str:
    return f"{column} := arg_min(metadata_prefix, {_KEY}) FILTER (WHERE {_present(column)})"


def _only(column: str) -> str:
    """``_pick`` for an item with one version."""
    if column in _LISTS:
        return f"CASE WHEN {_present(column)} THEN {column} ELSE [] END AS {column}"
    return column


def _only_source(column: str) -> str:
    """``_source_of`` for an item with one version."""
    return f"{column} := CASE WHEN {_present(column)} THEN metadata_prefix END"


_MERGED = (*MERGED_COLUMNS, *MERGED_LATER)
_TOP = [c for c in ARTICLES.names
        if c not in (*_MERGED, "handle_key", "deleted", "datestamp", "harvested_at")]  # fmt: skip

MERGE = f"""
CREATE OR REPLACE TEMP TABLE affected AS
SELECT v.handle_key, count(*) AS versions FROM article_versions v
WHERE v.handle_key IN (SELECT handle_key FROM winners) GROUP BY v.handle_key;

-- The best version that lists authors (a join with the affected items' author sources: an
-- EXISTS would hash all of author_versions).
CREATE OR REPLACE TEMP TABLE best_authors AS
SELECT v.handle_key,
       arg_min(v.metadata_prefix, {_key("v.")}) AS authors_source
FROM article_versions v
JOIN (SELECT DISTINCT handle_key, metadata_prefix FROM author_versions
      WHERE handle_key IN (SELECT handle_key FROM affected)) a
  ON a.handle_key = v.handle_key AND a.metadata_prefix = v.metadata_prefix
WHERE v.handle_key IN (SELECT handle_key FROM affected)
GROUP BY v.handle_key;

DELETE FROM articles WHERE handle_key IN (SELECT handle_key FROM affected);

-- One version: the row as it is.
INSERT INTO articles BY NAME
SELECT v.handle_key, {", ".join(_TOP)},
       {", ".join(_only(c) for c in _MERGED)},
       deleted, datestamp, harvested_at, [metadata_prefix] AS sources,
       struct_pack({", ".join(_only_source(c) for c in MERGED_COLUMNS)},
                   authors := b.authors_source) AS field_sources
FROM article_versions v LEFT JOIN best_authors b USING (handle_key)
WHERE v.handle_key IN (SELECT handle_key FROM affected WHERE versions = 1);

-- Several versions: field by field.
INSERT INTO articles BY NAME
SELECT v.handle_key,
       {", ".join(f"arg_min_null({c}, {_KEY}) AS {c}" for c in _TOP)},
       {", ".join(_pick(c) for c in _MERGED)},
       bool_and(deleted) AS deleted, max(datestamp) AS datestamp,
       max(harvested_at) AS harvested_at,
       list(metadata_prefix ORDER BY {_RANK}) AS sources,
       struct_pack({", ".join(_source_of(c) for c in MERGED_COLUMNS)},
                   authors := any_value(b.authors_source)) AS field_sources
FROM article_versions v LEFT JOIN best_authors b USING (handle_key)
WHERE v.handle_key IN (SELECT handle_key FROM affected WHERE versions > 1)
GROUP BY v.handle_key;

DELETE FROM authors WHERE handle_key IN (SELECT handle_key FROM affected);
INSERT INTO authors BY NAME
SELECT a.* EXCLUDE (metadata_prefix) FROM author_versions a
JOIN best_authors b ON a.handle_key = b.handle_key AND a.metadata_prefix = b.authors_source;
"""

UPSERT_QUARANTINE = """
DELETE FROM quarantine WHERE record_id IN (
    SELECT record_id FROM read_parquet($quarantine, hive_partitioning = false));
INSERT INTO quarantine BY NAME SELECT * FROM read_parquet($quarantine, hive_partitioning = false);
"""


def upsert_entities(table: str, listing: bool = False) -> str:
    """The script that upserts staged rows (``$path``) into ``table``: one row per handle,
    the newest wins. A template replaces the row; a ``listing`` (ListSets: a name and a
    description) leaves what only a template gives (``TEMPLATE_ONLY``) as it was."""
    if table not in ENTITY_TABLES:
        raise ValueError(table)
    kept = ""
    if listing:
        kept = ", ".join(
            [f"s.{c} AS {c}" for c in TEMPLATE_ONLY.get(table, ())]
            + [f"coalesce(i.{c}, s.{c}) AS {c}" for c in LISTING_OPTIONAL.get(table, ())]
        )
    return f"""
CREATE OR REPLACE TEMP TABLE incoming_entities AS
SELECT * FROM read_parquet($path, hive_partitioning = false)
QUALIFY row_number() OVER (PARTITION BY handle_key ORDER BY listed_at DESC) = 1;
CREATE OR REPLACE TEMP TABLE replaced_entities AS
SELECT s.* FROM {table} s JOIN incoming_entities i USING (handle_key)
WHERE i.listed_at >= s.listed_at;
DELETE FROM {table} WHERE handle_key IN (SELECT handle_key FROM replaced_entities);
INSERT INTO {table} BY NAME
SELECT i.*{f" REPLACE ({kept})" if kept else ""}
FROM incoming_entities i LEFT JOIN replaced_entities s USING (handle_key)
WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.handle_key = i.handle_key);
DROP TABLE replaced_entities;
"""


#: Tables of named things (one row per handle, the newest listing wins).
ENTITY_TABLES = ("series", "archives", "persons", "institutions")
