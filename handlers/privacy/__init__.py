"""Privacy: what is stored, a person's data, erasure, and the retention purge."""
