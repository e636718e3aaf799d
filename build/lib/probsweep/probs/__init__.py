"""Stage 3, probability analysis: metrics, calibration, thresholds, diagnosis of what the outputs are."""
