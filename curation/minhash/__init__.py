"""MinHash-LSH near-duplicate detection: shingles, signatures, candidates, clusters."""
