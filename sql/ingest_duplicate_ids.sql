-- Ids used by more than one ingest unit: every occurrence after the first, in corpus order.
-- Ids repeated inside one unit were already rejected while that unit was read.
WITH staged AS (
    SELECT id, filename AS shard, file_row_number AS row
    FROM read_parquet($shards, filename = true, file_row_number = true)
),
repeated AS (
    SELECT id FROM staged GROUP BY id HAVING count(*) > 1
)
SELECT id, shard, row,
       first_value(shard) OVER first_seen AS first_shard,
       first_value(row) OVER first_seen AS first_row
FROM staged SEMI JOIN repeated USING (id)
WINDOW first_seen AS (PARTITION BY id ORDER BY shard, row)
QUALIFY row_number() OVER first_seen > 1
ORDER BY shard, row
