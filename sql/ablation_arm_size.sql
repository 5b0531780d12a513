-- An arm's documents counted in the trainer's tokens (UTF-8 bytes and a separator each) and in
-- the tokens its mixture counts with, so that a budget in one is put in the other
-- (curation/ablate/arms.py).
WITH documents AS ($documents)
SELECT count(*) AS documents, sum((strlen(text) + 1) * copies)::BIGINT AS model_tokens,
       sum(tokens * copies)::BIGINT AS counted_tokens
FROM documents
