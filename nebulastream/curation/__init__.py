"""Curation: raw JSON Lines -> curated Parquet, quarantine and a report, by one definition."""
