-- Candidate pairs for fuzzy dedup: documents that share at least one LSH band, within one
-- source when the scope is 'source'. A bucket of m documents yields at most 2(m - 1) edges,
-- each member to the bucket's first document and to the member before it: enough to connect
-- the bucket, and the edges verification checks. Only buckets holding two or more documents
-- are sorted. In a run against an older corpus, documents from $first_new on are the new ones:
-- only buckets holding one are sorted and only pairs with one are returned, the very pairs a
-- run over both corpora would add to the older corpus's own.
WITH bands AS (
    $bands
),
shared AS (
    SELECT band, key $scope_columns FROM bands GROUP BY ALL HAVING count(*) > 1 AND max(doc) >= $first_new
),
members AS (
    SELECT doc,
           min(doc) OVER bucket AS first_doc,
           lag(doc) OVER bucket AS previous_doc
    FROM bands SEMI JOIN shared USING (band, key $scope_columns)
    WINDOW bucket AS (PARTITION BY band, key $scope_columns ORDER BY doc)
)
SELECT first_doc AS u, doc AS v FROM members WHERE doc <> first_doc AND doc >= $first_new
UNION
SELECT previous_doc AS u, doc AS v FROM members
WHERE previous_doc IS NOT NULL AND previous_doc <> first_doc AND doc >= $first_new
