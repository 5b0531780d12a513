-- Connected components by min-label hooking with pointer jumping, out of core in DuckDB.
-- Start: each undirected edge once as (smaller, larger), and every node labelled by itself.
CREATE OR REPLACE TEMP TABLE cc_edges AS
    SELECT DISTINCT least(u, v) AS u, greatest(u, v) AS v FROM $edges WHERE u <> v;
CREATE OR REPLACE TEMP TABLE cc_labels AS
    SELECT u AS node, u AS label FROM cc_edges UNION SELECT v, v FROM cc_edges;
