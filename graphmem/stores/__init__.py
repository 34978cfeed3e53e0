"""Store implementations behind the protocols in :mod:`graphmem.protocols`."""
