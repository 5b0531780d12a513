-- One domain's documents as a mixture writes them: a selection's repeats as copies, in a seeded
-- shuffled order (md5 of id, copy and seed), so that a trainer reading in order sees them mixed.
WITH documents AS ($documents)
SELECT id, text, tokens
FROM documents, range(copies) AS copy(n)
WHERE domain = $domain
ORDER BY md5(id || ':' || copy.n || ':' || $seed), id, copy.n
