-- The candidates of a DataMan selection (scorers/dataman/select.py): documents the rater rated,
-- with their source, DataMan domain, the metric (one criterion or the sum of several) and an
-- estimate of their tokens. $filters adds the target scores and domains.
SELECT d.id, d.source, m.domain AS app_domain, ($metric)::DOUBLE AS metric,
       greatest(1, (length(d.text) + 3) // 4)::BIGINT AS tokens
FROM docs d JOIN $table m USING (id)
WHERE m.rated $filters
ORDER BY d.id
