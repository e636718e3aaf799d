"""Stage 5, report: comparison tables (pandas), the verdict (words), figures, and the HTML page read from MLflow."""
