"""Stage 1, data: a user's file (or the embedded synthetic set) to split, vectorised, model-ready arrays."""
