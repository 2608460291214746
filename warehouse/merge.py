"""Upserting item versions and merging them into ``articles`` and ``authors``.

Each source (``oai_dc``, ``amf``, ``redif``) keeps its latest version of every item in
``article_versions``/``author_versions``: the newest datestamp wins, on a tie the later
harvest; a deletion keeps the version's last metadata with ``deleted = true``. ``articles``
then holds one row per handle, merged field by field: the first live source in the order
ReDIF, amf, oai_dc that has a value gives it (deleted versions only when no live one has it),
and ``field_sources`` says which source each field came from. An item is deleted when every
version of it is. ``authors`` are those of the best source that lists any.
"""

from __future__ import annotations

from schemas.tables import ARTICLES, MERGED_COLUMNS, SOURCE_PRECEDENCE

_RANK = "CASE metadata_prefix {} ELSE {} END".format(
    " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(SOURCE_PRECEDENCE, start=1)),
    len(SOURCE_PRECEDENCE) + 1,
)
_BEST = f"ORDER BY deleted, {_RANK}"
_LISTS = {f.name for f in ARTICLES if str(f.type).startswith("list")}

UPSERT_VERSIONS = """
CREATE OR REPLACE TEMP TABLE incoming_rows AS
SELECT * FROM read_parquet($articles, hive_partitioning = false);

-- A deletion carries only the OAI identifier. Where the endpoint's identifiers are not RePEc
-- handles, the live record was keyed by the handle in its metadata: find it by identifier.
UPDATE incoming_rows SET handle = known.handle, handle_key = known.handle_key
FROM (SELECT DISTINCT ON (oai_identifier) oai_identifier, handle, handle_key FROM (
          SELECT oai_identifier, handle, handle_key FROM article_versions WHERE NOT deleted
          UNION ALL
          SELECT oai_identifier, handle, handle_key FROM incoming_rows WHERE NOT deleted)) known
WHERE incoming_rows.deleted AND incoming_rows.oai_identifier = known.oai_identifier
  AND incoming_rows.handle_key <> known.handle_key;

CREATE OR REPLACE TEMP TABLE incoming AS
SELECT * FROM incoming_rows
QUALIFY row_number() OVER (PARTITION BY handle_key, metadata_prefix
                           ORDER BY datestamp DESC, harvested_at DESC, record_id DESC) = 1;

CREATE OR REPLACE TEMP TABLE winners AS
SELECT i.* FROM incoming i
LEFT JOIN article_versions a USING (handle_key, metadata_prefix)
WHERE a.handle_key IS NULL
   OR i.datestamp > a.datestamp
   OR (i.datestamp = a.datestamp AND (i.harvested_at > a.harvested_at
       OR (i.harvested_at = a.harvested_at AND i.record_id >= a.record_id)));

UPDATE article_versions SET deleted = true, datestamp = w.datestamp,
       harvested_at = w.harvested_at, record_id = w.record_id, set_specs = w.set_specs,
       oai_identifier = w.oai_identifier, endpoint = w.endpoint, harvest_id = w.harvest_id
FROM winners w
WHERE article_versions.handle_key = w.handle_key
  AND article_versions.metadata_prefix = w.metadata_prefix AND w.deleted;

INSERT INTO article_versions BY NAME
SELECT * FROM winners w
WHERE w.deleted AND NOT EXISTS (SELECT 1 FROM article_versions a
    WHERE a.handle_key = w.handle_key AND a.metadata_prefix = w.metadata_prefix);

DELETE FROM article_versions WHERE (handle_key, metadata_prefix) IN (
    SELECT (handle_key, metadata_prefix) FROM winners WHERE NOT deleted);
INSERT INTO article_versions BY NAME SELECT * FROM winners WHERE NOT deleted;
DELETE FROM author_versions WHERE (handle_key, metadata_prefix) IN (
    SELECT (handle_key, metadata_prefix) FROM winners WHERE NOT deleted);
"""

INSERT_AUTHOR_VERSIONS = """
INSERT INTO author_versions BY NAME
SELECT au.*, w.metadata_prefix FROM read_parquet($authors, hive_partitioning = false) au
JOIN winners w ON au.record_id = w.record_id WHERE NOT w.deleted;
"""


def _pick(column: str) -> str:
    present = f"len({column}) > 0" if column in _LISTS else f"{column} IS NOT NULL"
    value = f"first({column} {_BEST}) FILTER (WHERE {present})"
    return f"coalesce({value}, []) AS {column}" if column in _LISTS else f"{value} AS {column}"


def _source_of(column: str) -> str:
    present = f"len({column}) > 0" if column in _LISTS else f"{column} IS NOT NULL"
    return f"{column} := first(metadata_prefix {_BEST}) FILTER (WHERE {present})"


_TOP = [c for c in ARTICLES.names if c not in (*MERGED_COLUMNS, "handle_key", "deleted",
                                                "datestamp", "harvested_at")]  # fmt: skip

MERGE = f"""
CREATE OR REPLACE TEMP TABLE affected AS SELECT DISTINCT handle_key FROM winners;

CREATE OR REPLACE TEMP TABLE best_authors AS
SELECT v.handle_key,
       first(v.metadata_prefix {_BEST.replace("metadata_prefix", "v.metadata_prefix")})
       AS authors_source
FROM article_versions v
WHERE v.handle_key IN (SELECT handle_key FROM affected)
  AND EXISTS (SELECT 1 FROM author_versions a
              WHERE a.handle_key = v.handle_key AND a.metadata_prefix = v.metadata_prefix)
GROUP BY v.handle_key;

DELETE FROM articles WHERE handle_key IN (SELECT handle_key FROM affected);
INSERT INTO articles BY NAME
SELECT v.handle_key,
       {", ".join(f"first({c} {_BEST}) AS {c}" for c in _TOP)},
       {", ".join(_pick(c) for c in MERGED_COLUMNS)},
       bool_and(deleted) AS deleted, max(datestamp) AS datestamp,
       max(harvested_at) AS harvested_at,
       list(metadata_prefix ORDER BY {_RANK}) AS sources,
       struct_pack({", ".join(_source_of(c) for c in MERGED_COLUMNS)},
                   authors := any_value(b.authors_source)) AS field_sources
FROM article_versions v LEFT JOIN best_authors b USING (handle_key)
WHERE v.handle_key IN (SELECT handle_key FROM affected)
GROUP BY v.handle_key;

DELETE FROM authors WHERE handle_key IN (SELECT handle_key FROM affected);
INSERT INTO authors BY NAME
SELECT a.* EXCLUDE (metadata_prefix) FROM author_versions a
JOIN best_authors b ON a.handle_key = b.handle_key AND a.metadata_prefix = b.authors_source;
"""
