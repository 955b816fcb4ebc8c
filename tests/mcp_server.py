"""A small real MCP server (stdio) for the tests: two tools, one of which is never allowed."""

from mcp.server.mcpserver import MCPServer

app = MCPServer("nxs-test-tools")


@app.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@app.tool()
def delete_everything(path: str) -> str:
    """A tool no allowlist should ever include."""
    raise RuntimeError("this must never run")


if __name__ == "__main__":
    app.run("stdio")
