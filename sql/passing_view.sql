-- Documents that pass every stage so far, in pipeline order: the funnel's cumulative line.
CREATE VIEW passing AS
    SELECT unnest(counts, recursive := true) FROM (SELECT [$counts] AS counts FROM corpus);
