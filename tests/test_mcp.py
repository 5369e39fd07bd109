"""``qvq-agent mcp`` over stdio, driven by the official MCP SDK's own client."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import sys
from pathlib import Path
from typing import Any

from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters
from PIL import Image

from qvq_agent.testing import ReplayServer

ROOT = Path(__file__).resolve().parents[1]
ANSWER = "4 + 3 = 7 circles in all.\n\n**Final Answer**\n\n7"
CROP = '<tool_call>\n{"name": "crop", "arguments": {"image": "img0", "bbox": [0, 0, 500, 1000]}}\n</tool_call>'


def server_params(base_url: str = "http://127.0.0.1:9/v1") -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-c", "from qvq_agent.cli import main; main()", "mcp", "--base-url", base_url],
        cwd=str(ROOT),
        env={"QVQ_AGENT_RETRIES": "0"},
    )


def texts(result: Any) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


def images(result: Any) -> list[Image.Image]:
    return [
        Image.open(io.BytesIO(base64.b64decode(c.data)))
        for c in result.content
        if c.type == "image"
    ]


def test_tools_over_stdio(scene_path: Path) -> None:
    async def session() -> dict[str, Any]:
        async with Client(server_params()) as client:
            listed = await client.list_tools()
            crop = await client.call_tool(
                "crop", {"image": str(scene_path), "bbox": [0, 0, 500, 1000]}
            )
            encoded = base64.b64encode(scene_path.read_bytes()).decode()
            zoom = await client.call_tool(
                "zoom", {"image": encoded, "bbox": [0, 0, 250, 250], "factor": 2}
            )
            calc = await client.call_tool("calculate", {"expression": "sqrt(2*9.8*5)"})
            solved = await client.call_tool(
                "solve_equations", {"equations": ["10*x + 20*x = 180"], "unknowns": ["x"]}
            )
            bad_box = await client.call_tool("crop", {"image": str(scene_path), "bbox": [5, 5, 1]})
            inverted = await client.call_tool(
                "crop", {"image": str(scene_path), "bbox": [600, 0, 100, 100]}
            )
            missing = await client.call_tool("crop", {"image": "/nope.png", "bbox": [0, 0, 9, 9]})
            after = await client.call_tool("calculate", {"expression": "12*7"})
            return {
                "names": {t.name for t in listed.tools},
                "crop": crop,
                "zoom": zoom,
                "calc": calc,
                "solved": solved,
                "bad_box": bad_box,
                "inverted": inverted,
                "missing": missing,
                "after": after,
            }

    got = asyncio.run(asyncio.wait_for(session(), 120))
    assert got["names"] == {
        "crop",
        "zoom",
        "rotate",
        "enhance",
        "grid",
        "mark",
        "calculate",
        "solve_equations",
        "ask_about_image",
    }
    crop = got["crop"]
    assert not crop.is_error and "Cropped" in texts(crop)
    (cropped,) = images(crop)
    assert cropped.size == (600, 800)  # the left half of the 1200x800 scene
    (zoomed,) = images(got["zoom"])
    assert zoomed.size == (600, 400)  # a 300x200 corner, enlarged twice
    assert "9.899" in texts(got["calc"])
    assert "x = 6" in texts(got["solved"])
    for name in ("bad_box", "inverted", "missing"):
        assert got[name].is_error, name
    assert "bbox" in texts(got["bad_box"]) and "empty or inverted" in texts(got["inverted"])
    assert "no such file" in texts(got["missing"])
    assert not got["after"].is_error and "84" in texts(got["after"])  # still running


def test_ask_about_image_runs_the_agent(scene_path: Path) -> None:
    with ReplayServer([CROP, ANSWER]) as model_server:

        async def session() -> Any:
            async with Client(server_params(model_server.base_url)) as client:
                return await client.call_tool(
                    "ask_about_image", {"image": str(scene_path), "question": "How many?"}
                )

        result = asyncio.run(asyncio.wait_for(session(), 120))
    assert not result.is_error
    payload = json.loads(texts(result))
    assert payload["answer"] == "7" and payload["status"] == "verified"
    assert payload["evidence"] == [
        {"tool": "crop", "box": [0.0, 0.0, 600.0, 800.0], "image": "img1"}
    ]
    assert [i.size for i in images(result)] == [(600, 800)]
