-- Documents dropped, by stage and reason: ingest's rejects, and the attrs rows of every stage
-- that marks documents (keep false), with the rule it gives.
CREATE VIEW drops AS
    SELECT 'ingest' AS stage, reason, count(*) AS docs FROM rejects GROUP BY ALL
    $attrs_drops;
