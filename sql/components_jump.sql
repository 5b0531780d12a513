-- Pointer jumping: every node takes its parent's parent, halving the depth of the forest.
-- Returns how many nodes still point at a non-root; the caller repeats until none do.
CREATE OR REPLACE TEMP TABLE cc_hooks AS
    SELECT h.node, coalesce(p.parent, h.parent) AS parent
    FROM cc_hooks h LEFT JOIN cc_hooks p ON h.parent = p.node;
SELECT count(*) FROM cc_hooks h SEMI JOIN cc_hooks p ON h.parent = p.node;
