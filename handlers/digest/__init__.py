"""The weekly digest: built per room, posted, gathered into the shared digest and files."""
