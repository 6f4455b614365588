"""The Matrix layer: the homeserver connection, sync, encryption, cross-signing, membership.

It knows nothing of the features."""
