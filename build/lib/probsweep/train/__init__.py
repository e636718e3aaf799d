"""Stage 2, training: the model, its head and loss, the per-epoch callbacks, one plain fit and one tracked fit."""
