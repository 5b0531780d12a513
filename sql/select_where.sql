-- Every document passing $where, once (curation/select/query.py: a threshold is a condition).
SELECT id, 1::INTEGER AS repeats, $why AS why, ($weight)::DOUBLE AS weight
FROM corpus
WHERE ($where)
ORDER BY id
