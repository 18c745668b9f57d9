"""Tool-server library: validation, materialisation, discovery, invocation and SDK configs.

Pure functions and subprocess helpers only; commands, events and projections live elsewhere.
User code is never imported into the service process: it only runs in a child process
reached through a real MCP client.
"""

from __future__ import annotations
