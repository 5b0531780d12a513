-- A token-file mixture's documents (curation/mixture/token_files.py): the domain folder, the id,
-- its tokens, and where they are (the file, and the first token's offset in tokens.bin or the
-- sample number in the MDS stream).
CREATE VIEW $view AS
    SELECT regexp_extract(filename, '/data/([^/]+)/documents\.parquet', 1) AS domain, id, tokens, file, "offset"
    FROM read_parquet($files, filename = true);
