-- Every document with every stage's attrs as a struct column named after the stage,
-- so `exact_dedup.keep` or `minhash.cluster_size` read naturally in WHERE clauses.
CREATE VIEW corpus AS
    SELECT docs.* $stage_columns
    FROM docs $stage_joins;
