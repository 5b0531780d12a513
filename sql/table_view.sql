-- One table of parts (rejects, or the attrs of a stage keyed by id) as a view.
CREATE VIEW $view AS SELECT * FROM $relation;
