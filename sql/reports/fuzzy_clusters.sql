-- The largest near-duplicate clusters (fuzzy dedup): size, the kept document, and a sample
-- of the texts it stands for.
WITH clusters AS (
    SELECT cluster_id, any_value(cluster_size) AS size
    FROM minhash
    WHERE cluster_size > 1
    GROUP BY cluster_id
    ORDER BY size DESC, cluster_id
    LIMIT 20
)
SELECT c.cluster_id AS kept_id,
       c.size,
       round(min(m.similarity)::DOUBLE, 3) AS min_similarity,
       any_value(d.source) AS source,
       left(regexp_replace(any_value(d.text) FILTER (WHERE m.keep), '\s+', ' ', 'g'), 120) AS kept_text,
       left(regexp_replace(any_value(d.text) FILTER (WHERE NOT m.keep), '\s+', ' ', 'g'), 120) AS a_duplicate
FROM clusters c
JOIN minhash m USING (cluster_id)
JOIN docs d USING (id)
GROUP BY c.cluster_id, c.size
ORDER BY c.size DESC, c.cluster_id;
