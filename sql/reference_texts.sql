-- The texts a JEST reference model trains on (scorers/reference_loss.py): a seeded sample of the
-- documents passing $where.
SELECT text FROM corpus WHERE ($where) ORDER BY md5(id || ':' || $seed) LIMIT $limit
