-- The documents of a mixture (curation/mixture/plan.py): those passing $where (of a selection,
-- when one is named, each counted as often as it repeats there), with their domain and tokens.
SELECT d.id, d.text, ($domain)::VARCHAR AS domain, ($tokens)::BIGINT AS tokens, ($copies)::BIGINT AS copies
FROM corpus d $join
WHERE ($where)
