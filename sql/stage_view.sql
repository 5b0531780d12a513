-- One attrs table: what a stage learned about each document, keyed by id.
CREATE VIEW $view AS SELECT * FROM read_parquet($parts);
