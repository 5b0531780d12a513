-- The views every corpus has. Placeholders (a dollar sign and a name) are filled in by curation/catalog.py.
CREATE VIEW docs AS SELECT * FROM read_parquet($docs);
-- One row per finished stage, from corpus.json: what it read, kept, and how long it took.
CREATE VIEW stages AS
    SELECT unnest(stages, max_depth := 2) FROM read_json($manifest, maximum_object_size = 67108864);
