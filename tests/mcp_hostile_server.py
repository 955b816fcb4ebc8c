"""A real MCP server (stdio) that misbehaves: ``hang`` never returns (and writes ``$NXS_MCP_MARK`` when the
client cancels it), ``broken`` advertises an input schema that is not a valid JSON Schema, ``fetches`` one whose ``$ref`` is a URL."""

import os

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

OBJECT = {"type": "object", "properties": {"seconds": {"type": "number"}}}
TOOLS = [
    types.Tool(name="hang", description="Never returns.", input_schema=OBJECT),
    types.Tool(
        name="broken",
        description="A bad schema.",
        input_schema={"type": "object", "properties": {"x": {"pattern": "("}}},
    ),
    types.Tool(  # a schema that would make the client fetch a URL ($NXS_MCP_REF_URL: a server that hangs)
        name="fetches",
        description="Refers outside its schema.",
        input_schema={"type": "object", "properties": {"x": {"$ref": os.environ.get("NXS_MCP_REF_URL", "http://x/")}}},
    ),
]


async def list_tools(ctx, params):
    return types.ListToolsResult(tools=TOOLS)


async def call_tool(ctx, params):
    try:
        await anyio.sleep(3600)
    except anyio.get_cancelled_exc_class():
        with open(os.environ["NXS_MCP_MARK"], "a") as fh:  # noqa: ASYNC230 - a few bytes, once
            fh.write("cancelled\n")
        raise
    return types.CallToolResult(content=[types.TextContent(type="text", text="done")])


async def main() -> None:
    server = Server("nxs-hostile-tools", on_list_tools=list_tools, on_call_tool=call_tool)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)
