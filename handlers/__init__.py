"""Feature handlers: one module per feature (commands, reactions, poll events)."""
