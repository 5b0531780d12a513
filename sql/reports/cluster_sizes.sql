-- Hierarchical k-means: at every level, how many clusters hold documents and how many
-- documents the smallest, the median and the largest of them hold; then the 20 largest
-- level-1 clusters with the two documents nearest their centroid.
WITH members AS (
    UNPIVOT clusters ON COLUMNS('^level_[0-9]+$') INTO NAME level VALUE cluster
),
sizes AS (
    SELECT level, cluster, count(*) AS docs FROM members GROUP BY ALL
),
per_level AS (
    SELECT level, count(*) AS clusters, min(docs) AS smallest, median(docs)::BIGINT AS median,
           max(docs) AS largest, NULL::VARCHAR AS nearest_text, NULL::VARCHAR AS second_text
    FROM sizes GROUP BY level
),
largest AS (
    SELECT level_1, count(*) AS docs FROM clusters GROUP BY level_1 ORDER BY docs DESC, level_1 LIMIT 20
),
nearest AS (
    SELECT c.level_1, left(regexp_replace(d.text, '\s+', ' ', 'g'), 100) AS text,
           row_number() OVER (PARTITION BY c.level_1 ORDER BY c.distance, c.id) AS rank
    FROM clusters c JOIN docs d USING (id) SEMI JOIN largest USING (level_1)
),
examples AS (
    SELECT 'level_1 #' || l.level_1 AS level, 1 AS clusters, l.docs AS smallest, l.docs AS median, l.docs AS largest,
           any_value(n.text) FILTER (WHERE n.rank = 1) AS nearest_text,
           any_value(n.text) FILTER (WHERE n.rank = 2) AS second_text
    FROM largest l JOIN nearest n USING (level_1)
    GROUP BY l.level_1, l.docs
)
SELECT * FROM (SELECT * FROM per_level ORDER BY level)
UNION ALL
SELECT * FROM (SELECT * FROM examples ORDER BY largest DESC, level);
