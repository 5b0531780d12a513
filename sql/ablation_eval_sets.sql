-- An ablation's eval sets (curation/ablate/arms.py), drawn before any arm is built: per domain
-- of the documents passing $where, documents in a seeded order while the set's bytes stay within
-- $bytes (its first document always: a set is never empty).
WITH candidates AS (
    SELECT id, text, ($domain)::VARCHAR AS eval_set,
           sum(strlen(text)) OVER (PARTITION BY ($domain) ORDER BY md5(id || ':' || $seed), id) AS bytes_so_far,
           row_number() OVER (PARTITION BY ($domain) ORDER BY md5(id || ':' || $seed), id) AS position
    FROM corpus
    WHERE ($where) AND ($domain) IS NOT NULL AND strlen(text) > 0
)
SELECT eval_set, id, text, md5(text) AS text_md5
FROM candidates
WHERE bytes_so_far <= $bytes OR position = 1
ORDER BY eval_set, position
