"""The features: one package per feature, each with its commands, hooks, timers and messages."""
