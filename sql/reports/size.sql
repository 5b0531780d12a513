-- Size of the corpus by source and domain: documents, characters, and the average document.
SELECT source,
       domain,
       count(*) AS docs,
       sum(length(text)) AS chars,
       round(avg(length(text))) AS avg_chars
FROM docs
GROUP BY ALL
ORDER BY docs DESC, source, domain;
