"""Picks: the ``Pick`` record, peak extraction, CSV / JSON / QuakeML files and shard merging."""
