"""Proposals: recorded by command or by hashtag, supported, listed, edited, deleted."""
