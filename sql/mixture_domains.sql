-- Documents and tokens per domain of a mixture, a selection's repeats counted.
WITH documents AS ($documents)
SELECT domain, sum(copies)::BIGINT AS documents, sum(tokens * copies)::BIGINT AS tokens
FROM documents
GROUP BY domain
ORDER BY domain
