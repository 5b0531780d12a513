-- A ranked selection (curation/select/query.py): the documents passing $where, each weighing
-- $weight (1, its characters or its tokens), taken in order of $key (highest first; ties in a
-- seeded random order) until the weight taken before a document reaches $budget.
WITH candidates AS (
    SELECT id, ($score)::DOUBLE AS score, ($weight)::DOUBLE AS weight,
           ((md5_number_lower(id || ':' || $seed) >> 11)::DOUBLE + 0.5) / 9007199254740992 AS uniform
    FROM corpus
    WHERE ($where)
),
ranked AS (
    SELECT id, score, weight,
           sum(weight) OVER (ORDER BY $key DESC, uniform ROWS UNBOUNDED PRECEDING) AS running
    FROM candidates
    WHERE score IS NOT NULL
)
SELECT id, 1::INTEGER AS repeats, $why AS why, weight
FROM ranked
WHERE running - weight < ($budget)
ORDER BY id
