"""Evaluation: relevance, ranking metrics, the hash-table radius sweep, per-run reports and multi-run summaries."""
