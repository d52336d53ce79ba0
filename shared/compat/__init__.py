"""Compatibility with the seed system (Bifrost): with CONDUIT_BIFROST_COMPAT on, `import bifrost` in a workspace
module resolves to Conduit's public API (`bifrost.py` says what it offers), and what Conduit does not offer fails
that module's load with a message naming it (`finder.py` installs the import hook before discovery runs)."""
