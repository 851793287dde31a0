"""Arrays, streams and files to probabilities and picks: chunked inference, stations, gaps,
long files, the multi-file loop (journal, resume, shards) and Dask."""
