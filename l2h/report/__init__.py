"""Reports: the run folder and its files, the printed table and plots, multi-run summaries."""
