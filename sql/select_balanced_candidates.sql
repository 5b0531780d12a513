-- The documents balanced sampling chooses among (curation/select/balanced.py): those passing
-- $where, with their level-1 cluster and distance to its centroid.
SELECT id, clusters.level_1 AS level_1, clusters.distance AS distance
FROM corpus
WHERE clusters.level_1 IS NOT NULL AND ($where)
ORDER BY id
