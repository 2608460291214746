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
