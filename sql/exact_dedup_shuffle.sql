-- One docs part's hashes with their document numbers (the part's first is $start), each given
-- the partition its hash falls in, sorted by partition.
SELECT id, hash, source, $start + file_row_number AS doc, hash(hash) % $partitions AS partition
FROM read_parquet($hashes, file_row_number = true)
ORDER BY partition
