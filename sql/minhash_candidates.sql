-- Candidate pairs for fuzzy dedup: documents that share at least one LSH band, within one
-- source when the scope is 'source'. A bucket of m documents yields at most 2(m - 1) edges,
-- each member to the bucket's first document and to the member before it: enough to connect
-- the bucket, and the edges verification checks. Only buckets holding two or more documents
-- are sorted.
WITH bands AS (
    SELECT band, key, doc $scope_columns FROM read_parquet($bands)
),
shared AS (
    SELECT band, key $scope_columns FROM bands GROUP BY ALL HAVING count(*) > 1
),
members AS (
    SELECT doc,
           min(doc) OVER bucket AS first_doc,
           lag(doc) OVER bucket AS previous_doc
    FROM bands SEMI JOIN shared USING (band, key $scope_columns)
    WINDOW bucket AS (PARTITION BY band, key $scope_columns ORDER BY doc)
)
SELECT first_doc AS u, doc AS v FROM members WHERE doc <> first_doc
UNION
SELECT previous_doc AS u, doc AS v FROM members WHERE previous_doc IS NOT NULL AND previous_doc <> first_doc
