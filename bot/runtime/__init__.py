"""The runtime: configuration, the application and its wiring, event intake, pacing, routing,
the outbox, timers, the handler context, clocks and message rendering."""
