-- What ingest could not take, by source and reason, with one example of each.
SELECT source,
       reason,
       count(*) AS rejects,
       min(file) AS example_file,
       arg_min(position, file) AS example_position,
       arg_min(detail, file) AS example_detail
FROM rejects
GROUP BY ALL
ORDER BY rejects DESC, source, reason;
