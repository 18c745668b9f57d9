"""The runner's MCP server: tools over stdio (``runner mcp``) and streamable HTTP with OAuth."""
