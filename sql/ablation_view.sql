-- An ablation's results (curation/ablate): its runs (arm, seed, eval set: tokens, loss, bits per
-- byte, wall time) and its summary (per arm and eval set over the seeds, beside the first arm).
CREATE VIEW $view AS SELECT * FROM read_parquet($runs);
CREATE VIEW $summary_view AS SELECT * FROM read_parquet($summary);
