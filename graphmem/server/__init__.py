"""The servers: thin shells over :class:`graphmem.AsyncMemory` (REST in ``rest.py``, MCP in
``mcp.py``), with API-key auth (``auth.py``). Nothing below ``Memory`` imports them."""
