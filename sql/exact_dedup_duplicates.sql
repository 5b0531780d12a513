-- Every document whose normalised text occurred earlier in corpus order (part, then row),
-- within one source when the scope is 'source', with the id of the first occurrence.
-- Only hashes seen more than once are sorted, so the window stays small.
CREATE TEMP TABLE duplicates AS
WITH hashes AS (
    SELECT id, hash, source, filename AS part, file_row_number AS row
    FROM read_parquet($hashes, filename = true, file_row_number = true)
),
repeated AS (
    SELECT hash $scope_partition FROM hashes GROUP BY hash $scope_partition HAVING count(*) > 1
)
SELECT id, first_value(id) OVER first_seen AS duplicate_of
FROM hashes SEMI JOIN repeated USING (hash $scope_partition)
WINDOW first_seen AS (PARTITION BY hash $scope_partition ORDER BY part, row)
QUALIFY row_number() OVER first_seen > 1;
