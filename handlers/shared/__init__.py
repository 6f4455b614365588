"""Helpers used by several features: hashtags, message links and short texts, the digest
schedule, the meetings of a recurring event."""
