-- Views for people: tombstones hidden, authors in order, counts.

CREATE OR REPLACE VIEW live_articles AS
SELECT a.* REPLACE (
           coalesce(a.journal, CASE WHEN a.item_type = 'article' THEN s.name END) AS journal
       ),
       s.name AS series_name
FROM articles a
LEFT JOIN series s ON s.handle_key = lower(a.series_handle)
WHERE NOT a.deleted;

CREATE OR REPLACE VIEW live_authors AS
SELECT au.*
FROM authors au
JOIN articles a USING (handle_key)
WHERE NOT a.deleted;

CREATE OR REPLACE VIEW article_authors AS
WITH names AS (
    SELECT handle_key, list(name ORDER BY position) AS authors
    FROM authors WHERE role = 'author' GROUP BY handle_key
)
SELECT l.handle, l.item_type, l.title, l.journal, l.year, l.volume, l.issue, l.pages,
       l.doi, coalesce(n.authors, []) AS authors,
       array_to_string(coalesce(n.authors, []), '; ') AS authors_text,
       l.keywords, l.jel_codes, l.series_handle, l.series_name, l.datestamp
FROM live_articles l LEFT JOIN names n USING (handle_key);

CREATE OR REPLACE VIEW counts_by_year AS
SELECT year,
       count(*) AS items,
       count(*) FILTER (WHERE item_type = 'article') AS articles,
       count(*) FILTER (WHERE item_type = 'paper') AS papers
FROM live_articles
GROUP BY year
ORDER BY year;

CREATE OR REPLACE VIEW counts_by_series AS
SELECT series_handle, any_value(series_name) AS series_name, count(*) AS items,
       min(year) AS first_year, max(year) AS last_year
FROM live_articles
GROUP BY series_handle
ORDER BY items DESC, series_handle;

-- Citations (CitEc): each live item's citing and cited works, with titles where known.
CREATE OR REPLACE VIEW article_citations AS
SELECT l.handle, 'cited_by' AS direction, c.citing_handle AS other_handle,
       o.title AS other_title, o.year AS other_year
FROM live_articles l
JOIN citations c ON c.cited_key = l.handle_key
LEFT JOIN articles o ON o.handle_key = c.citing_key AND NOT o.deleted
UNION ALL
SELECT l.handle, 'cites', c.cited_handle, o.title, o.year
FROM live_articles l
JOIN citations c ON c.citing_key = l.handle_key
LEFT JOIN articles o ON o.handle_key = c.cited_key AND NOT o.deleted;

-- Citation counts of each live item: over all of RePEc, and within the harvested corpus.
CREATE OR REPLACE VIEW article_citation_counts AS
WITH corpus AS (SELECT handle_key FROM articles WHERE NOT deleted),
cited AS (
    SELECT cited_key AS handle_key, count(*) AS n FROM citations
    WHERE citing_key IN (SELECT handle_key FROM corpus) GROUP BY cited_key),
citing AS (
    SELECT citing_key AS handle_key, count(*) AS n FROM citations
    WHERE cited_key IN (SELECT handle_key FROM corpus) GROUP BY citing_key)
SELECT l.handle, l.title, l.year,
       coalesce(cc.cited_by, 0) AS cited_by, coalesce(cc.cites, 0) AS cites,
       coalesce(cited.n, 0) AS cited_by_in_corpus, coalesce(citing.n, 0) AS cites_in_corpus
FROM live_articles l
LEFT JOIN citation_counts cc USING (handle_key)
LEFT JOIN cited USING (handle_key)
LEFT JOIN citing USING (handle_key);

-- References of an item from CitEc's AMF service, with the cited item's title where known.
CREATE OR REPLACE VIEW article_references AS
SELECT r.handle, r.position, r.matched, r.cited_handle, o.title AS cited_title,
       r.reference_text, r.fetched_at
FROM "references" r
LEFT JOIN articles o ON o.handle_key = r.cited_key AND NOT o.deleted;

-- What a "new and changed this week" panel shows: items harvested in the last seven days,
-- deletions included (`repec-harvest changes --since` tells new items from updated ones).
CREATE OR REPLACE VIEW changes_this_week AS
SELECT a.handle, CASE WHEN a.deleted THEN 'deleted' ELSE 'new or updated' END AS change,
       a.title, a.year, a.series_handle, a.datestamp, a.harvested_at, a.sources
FROM articles a
WHERE a.harvested_at >= current_date - INTERVAL 7 DAY
ORDER BY a.harvested_at DESC, a.handle;
