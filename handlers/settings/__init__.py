"""Room settings (!réglages)."""
