-- Every tree of hooks becomes its root: labels follow their node's root, and edges are
-- rewritten between roots, dropping those inside one tree. A root left with edges has only
-- larger neighbours, each hooked into another tree, so few rounds remain (logarithmic in the
-- component size in practice). Returns the edges left; the caller stops at none.
CREATE OR REPLACE TEMP TABLE cc_labels AS
    SELECT l.node, coalesce(h.parent, l.label) AS label
    FROM cc_labels l LEFT JOIN cc_hooks h ON l.label = h.node;
CREATE OR REPLACE TEMP TABLE cc_edges AS
    SELECT DISTINCT least(a, b) AS u, greatest(a, b) AS v
    FROM (
        SELECT coalesce(hu.parent, e.u) AS a, coalesce(hv.parent, e.v) AS b
        FROM cc_edges e
        LEFT JOIN cc_hooks hu ON e.u = hu.node
        LEFT JOIN cc_hooks hv ON e.v = hv.node
    )
    WHERE a <> b;
SELECT count(*) FROM cc_edges;
