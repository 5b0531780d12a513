-- attrs/exact_dedup for one part, row-aligned with its docs part, from its repeats.
SELECT h.id,
       h.hash,
       d.duplicate_of,
       d.duplicate_of IS NULL AS keep,
       CASE WHEN d.duplicate_of IS NOT NULL THEN 'duplicate' END AS reason
FROM read_parquet($hashes, file_row_number = true) AS h
LEFT JOIN $repeats AS d ON d.row = h.file_row_number
ORDER BY h.file_row_number
