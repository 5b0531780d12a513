-- An emitted mixture's documents, with the domain folder each was written to (curation/mixture/emit.py).
CREATE VIEW $view AS
    SELECT regexp_extract(filename, '/data/([^/]+)/part-[0-9]+', 1) AS domain, id, tokens, text
    FROM $reader($files, filename = true);
