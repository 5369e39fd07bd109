"""``qvq-agent mcp``: the tools and the agent as an MCP server (the official ``mcp`` SDK).

Tools: ``crop``, ``zoom``, ``rotate``, ``enhance``, ``grid``, ``mark`` (each returns its text
result and the image it made, as MCP image content), ``calculate``, ``solve_equations``, and
``ask_about_image`` (runs the solve graph against the configured model server). Every image
arrives as a file path, an ``http(s)`` URL, a ``data:`` URL or bare base64; boxes and points are
on a 0–1000 scale of the image's width and height (the ``qvq`` profile's frame). A bad argument,
box or image comes back as an error result and the server keeps running.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any, Literal

import mcp_types as types
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from qvq_agent.agent.context import Context
from qvq_agent.images import ImageLoadError, ImageStore, encode, is_photo
from qvq_agent.integrations import evidence
from qvq_agent.profiles import get_profile
from qvq_agent.settings import RunSettings
from qvq_agent.solver import asolve
from qvq_agent.tools import default_registry
from qvq_agent.tools.registry import ToolEnv

FRAME = "on a 0-1000 scale of the image's width and height, (0, 0) at the top left"
IMAGE = "the image: a file path, an http(s) URL, a data: URL or base64"
Content = list[types.TextContent | types.ImageContent]


def image_content(store: ImageStore, image_id: str) -> types.ImageContent:
    """An image of the store as MCP image content (PNG, or JPEG for a photo)."""
    record = store.get(image_id)
    mime, data = encode(record.image, photo=is_photo(record.image))
    return types.ImageContent(
        type="image", data=base64.b64encode(data).decode("ascii"), mime_type=mime
    )


def build_server(settings: RunSettings, profile: str = "qvq") -> MCPServer:
    """The MCP server: the image and math tools, and ``ask_about_image`` on ``settings``."""
    server: MCPServer = MCPServer(
        name="qvq-agent",
        instructions="Image tools (crop, zoom, rotate, enhance, grid, mark), exact math "
        "(calculate, solve_equations), and ask_about_image: a visual reasoning model that "
        "looks again with those tools and verifies its reasoning.",
    )
    registry = default_registry()
    model_profile = get_profile(profile)

    def run(name: str, image: str | None, arguments: dict[str, Any]) -> Content:
        store = ImageStore()
        if image is not None:
            try:
                arguments = {"image": store.add_file(image), **arguments}
            except ImageLoadError as exc:
                raise ToolError(str(exc)) from None
        tool = registry.get(name)
        if tool is None:
            raise ToolError(f"no tool named {name!r}")
        result = tool.run(ToolEnv(store, model_profile), arguments)
        if not result.ok:
            raise ToolError(result.text)
        content: Content = [types.TextContent(type="text", text=result.text)]
        content += [image_content(store, i) for i in result.images]
        return content

    async def call(name: str, image: str | None, **arguments: Any) -> Content:
        return await asyncio.to_thread(run, name, image, arguments)

    @server.tool(description=f"Cut out a region of an image. bbox [x1, y1, x2, y2] {FRAME}.")
    async def crop(image: str, bbox: list[float]) -> Content:
        return await call("crop", image, bbox=bbox)

    @server.tool(
        description=f"Cut out a region and enlarge it by factor (above 1, at most 4). "
        f"bbox [x1, y1, x2, y2] {FRAME}."
    )
    async def zoom(image: str, bbox: list[float], factor: float = 2.0) -> Content:
        return await call("zoom", image, bbox=bbox, factor=factor)

    @server.tool(description="Rotate an image counter-clockwise by degrees (the canvas grows).")
    async def rotate(image: str, degrees: float) -> Content:
        return await call("rotate", image, degrees=degrees)

    @server.tool(
        description="Make details easier to see: contrast, sharpen, grayscale, invert, threshold."
    )
    async def enhance(
        image: str, mode: Literal["contrast", "sharpen", "grayscale", "invert", "threshold"]
    ) -> Content:
        return await call("enhance", image, mode=mode)

    @server.tool(description="Draw a labelled grid (rows A, B, ...; columns 1, 2, ...).")
    async def grid(image: str, rows: int, cols: int) -> Content:
        return await call("grid", image, rows=rows, cols=cols)

    @server.tool(description=f"Draw numbered marks at points [[x, y], ...] {FRAME}.")
    async def mark(image: str, points: list[list[float]]) -> Content:
        return await call("mark", image, points=points)

    @server.tool(
        description="Compute an expression exactly (sympy; units like m, s, kg, N): "
        "e.g. sqrt(2*9.8*5), 9.8 m/s**2 * 2 s."
    )
    async def calculate(expression: str) -> Content:
        return await call("calculate", None, expression=expression)

    @server.tool(
        description='Solve equations for unknowns, e.g. equations ["10*x + 20*x = 180"], '
        'unknowns ["x"].'
    )
    async def solve_equations(equations: list[str], unknowns: list[str]) -> Content:
        return await call("solve", None, equations=equations, unknowns=unknowns)

    @server.tool(
        description="Answer a question about an image with the visual reasoning model: it crops "
        "and zooms to check details and its reasoning is verified. Returns the answer, its "
        "status (verified, unverified, error), the regions looked at (boxes in original-image "
        "pixels) and their images."
    )
    async def ask_about_image(
        image: str, question: str, choices: list[str] | None = None
    ) -> Content:
        ctx = Context(settings=settings)
        try:
            result = await asolve(image, question, context=ctx, choices=choices or ())
        except (ImageLoadError, ValueError) as exc:
            raise ToolError(str(exc)) from None
        regions = evidence(ctx.store, result)  # the images go back inline, not as files
        payload = {
            "answer": result.answer,
            "status": result.status,
            "evidence": [{k: r[k] for k in ("tool", "box", "image")} for r in regions],
            "error": result.error,
        }
        content: Content = [types.TextContent(type="text", text=json.dumps(payload))]
        content += [image_content(ctx.store, r["image"]) for r in regions]
        return content

    return server


def serve(
    settings: RunSettings,
    transport: Literal["stdio", "http"] = "stdio",
    host: str = "127.0.0.1",
    port: int = 8765,
    profile: str = "qvq",
) -> None:
    """Run the server until the client disconnects (stdio) or it is stopped (http)."""
    server = build_server(settings, profile)
    if transport == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host=host, port=port)


__all__ = ["build_server", "image_content", "serve"]
