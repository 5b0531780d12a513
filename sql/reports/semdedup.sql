-- What SemDeDup removed: per k-means cluster, documents and removals, with one removed
-- document beside the earlier one it was too similar to (the 20 clusters that lost most).
WITH per_cluster AS (
    SELECT cluster, count(*) AS docs, count(*) FILTER (WHERE NOT keep) AS removed
    FROM semdedup GROUP BY cluster
),
example AS (
    SELECT s.cluster, s.max_similarity, s.id, s.duplicate_of,
           row_number() OVER (PARTITION BY s.cluster ORDER BY s.max_similarity, s.id) AS rank
    FROM semdedup s WHERE NOT s.keep
)
SELECT p.cluster, p.docs, p.removed, round(p.removed / p.docs, 3) AS removed_share,
       round(e.max_similarity::DOUBLE, 3) AS similarity,
       left(regexp_replace(r.text, '\s+', ' ', 'g'), 90) AS removed_text,
       left(regexp_replace(k.text, '\s+', ' ', 'g'), 90) AS similar_to_text
FROM per_cluster p
LEFT JOIN example e ON e.cluster = p.cluster AND e.rank = 1
LEFT JOIN docs r ON r.id = e.id
LEFT JOIN docs k ON k.id = e.duplicate_of
ORDER BY p.removed DESC, p.cluster
LIMIT 20;
