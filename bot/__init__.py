"""Concerto: a Matrix bot that keeps a participatory process moving."""

__version__ = "0.1.0"
