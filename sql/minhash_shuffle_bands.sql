-- One docs part's band rows, numbered across the run (the part's segment starts at $start),
-- each given the bucket its (band, key) falls in, sorted by bucket: every row of a band's
-- bucket of documents lands in one bucket file.
SELECT band, key, doc + $start AS doc, source, hash(band, key) % $buckets AS bucket
FROM read_parquet($bands)
ORDER BY bucket
