-- The stage funnel: rows each finished stage read and kept, in the order they finished (the
-- order of corpus.json); what it dropped by stage:reason; and the documents that pass every
-- stage so far (in pipeline order), which is what a reader of a funnel expects; and how fast
-- each stage went: documents per second per core over its steps over the docs parts. Ablations
-- train models rather than mark documents: they are not in it.
WITH stage AS (SELECT *, row_number() OVER () AS position FROM stages WHERE stage IS DISTINCT FROM 'ablate'),
reasons AS (
    SELECT stage, string_agg(stage || ':' || reason || ' ' || docs, ', ' ORDER BY docs DESC, reason) AS reasons
    FROM drops GROUP BY stage
)
SELECT s.name AS stage,
       s.rows_in,
       s.rows_out,
       s.rows_in - s.rows_out AS removed,
       round(100.0 * s.rows_out / nullif(s.rows_in, 0), 2) AS kept_pct,
       p.docs AS passing_so_far,
       r.reasons,
       s.wall_time_s,
       s.docs_per_core_s,
       s.finished_at
FROM stage AS s
LEFT JOIN reasons AS r ON r.stage = s.name
LEFT JOIN passing AS p ON p.stage = s.name
ORDER BY s.position;
