-- In one partition: every document whose normalised text occurred earlier in corpus order
-- (document number), within one source when the scope is 'source', with the id of the first
-- occurrence. Only hashes seen more than once are sorted.
WITH hashes AS (
    SELECT * FROM read_parquet($shuffled)
),
repeated AS (
    SELECT hash $scope FROM hashes GROUP BY hash $scope HAVING count(*) > 1
)
SELECT doc, first_value(id) OVER first_seen AS duplicate_of
FROM hashes SEMI JOIN repeated USING (hash $scope)
WINDOW first_seen AS (PARTITION BY hash $scope ORDER BY doc)
QUALIFY row_number() OVER first_seen > 1
