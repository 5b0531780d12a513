-- The comparisons in each bucket: a cluster of n documents compares about n^2 / 2 pairs, so a
-- bucket's cost is the sum of n * n over its clusters (read from the cluster column alone).
SELECT cluster % $buckets AS bucket, sum(n * n)::DOUBLE AS cost
FROM (SELECT cluster, count(*) AS n FROM read_parquet($files) GROUP BY cluster)
GROUP BY bucket
ORDER BY bucket
