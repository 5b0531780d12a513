-- The candidates of a DataMan selection (scorers/dataman/select.py): documents passing $where that
-- the rater rated, with their source, DataMan domain, the metric (one criterion or the sum of
-- several) and their weight (1, characters or tokens). $filters adds target scores and domains.
SELECT d.id, d.source, m.domain AS app_domain, ($metric)::DOUBLE AS metric, ($weight)::DOUBLE AS weight
FROM corpus d JOIN $table m USING (id)
WHERE m.rated AND ($where) $filters
ORDER BY d.id
