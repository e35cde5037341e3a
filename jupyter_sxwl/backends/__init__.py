"""Where admitted work runs: the Backend protocol and its implementations."""
