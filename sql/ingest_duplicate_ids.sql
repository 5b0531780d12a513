-- Ids used more than once across the corpus's docs parts ($docs, for an append) and the staged
-- units: every occurrence after the first, in corpus order (the docs parts come first). Ids
-- repeated inside one unit were already rejected while that unit was read.
WITH staged AS (
    SELECT id, filename AS shard, file_row_number AS row
    FROM read_parquet($shards, filename = true, file_row_number = true)
),
occurrences AS (
    SELECT 0 AS batch, * FROM ($docs) AS docs SEMI JOIN staged USING (id)
    UNION ALL
    SELECT 1 AS batch, * FROM staged
),
repeated AS (
    SELECT id FROM occurrences GROUP BY id HAVING count(*) > 1
)
SELECT id, shard, row,
       first_value(shard) OVER first_seen AS first_shard,
       first_value(row) OVER first_seen AS first_row
FROM occurrences SEMI JOIN repeated USING (id)
WINDOW first_seen AS (PARTITION BY id ORDER BY batch, shard, row)
QUALIFY row_number() OVER first_seen > 1
ORDER BY shard, row
