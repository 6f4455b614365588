"""Text: dates in French and English, field splitting, translations."""
