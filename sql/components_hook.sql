-- Each node hooks to its smallest neighbour, if smaller than itself. Parents are smaller than
-- their children, so the hooks form a forest whose roots are the nodes without a smaller
-- neighbour.
CREATE OR REPLACE TEMP TABLE cc_hooks AS
    SELECT v AS node, min(u) AS parent FROM cc_edges GROUP BY v;
