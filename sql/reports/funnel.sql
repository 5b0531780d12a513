-- The stage funnel: rows each finished stage read and kept, in the order they finished
-- (the order of corpus.json, which DuckDB's scan preserves).
SELECT name AS stage,
       rows_in,
       rows_out,
       rows_in - rows_out AS removed,
       round(100.0 * rows_out / nullif(rows_in, 0), 2) AS kept_pct,
       wall_time_s,
       finished_at
FROM stages;
