"""Polls: native Matrix polls, their ballots (native and emoji), closing and results."""
