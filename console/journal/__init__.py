"""The incident journal: event models, the hash-chained log, the fold, verify and export."""
