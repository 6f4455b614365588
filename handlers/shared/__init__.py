"""Helpers used by several features (hashtags)."""
