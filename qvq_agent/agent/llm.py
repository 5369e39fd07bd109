"""Talking to the model: the one request function every node uses, and what it needs.

:func:`request` streams one reply (so every reply can be cancelled by the loop guard), counts
its usage the same way for every caller, and turns server failures into
:class:`ModelServerError` with a one-line explanation. Also here: the chat model factory
(langchain-openai ``ChatOpenAI`` pointed at vLLM) and the rendering of the state's messages
(images by id) into request messages (images as data URLs, each encoded once by the store).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from contextlib import aclosing, contextmanager
from dataclasses import dataclass
from typing import Any, Literal, cast
from urllib.parse import urlsplit

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_openai import ChatOpenAI

from qvq_agent import prompts
from qvq_agent.agent.checks.loop import LoopDetector, LoopHit
from qvq_agent.agent.context import Context
from qvq_agent.agent.state import Usage
from qvq_agent.serving import vllm_command

SystemPrompt = Literal["tools", "plain", "none"]

IMAGE_REF = "image_ref"
"""Content-part type that stands for an image by id in state messages."""


class ModelServerError(RuntimeError):
    """The model server could not be used; the message is one line that says what to do."""


def image_part(image_id: str) -> dict[str, str]:
    """A content part that refers to an image in the store (no pixels in state)."""
    return {"type": IMAGE_REF, "image_id": image_id}


def chat_model(ctx: Context) -> BaseChatModel:
    """The context's chat model, built once from its settings when not given."""
    if ctx.chat_model is None:
        ctx.chat_model = build_chat_model(ctx)
    return ctx.chat_model


def build_chat_model(ctx: Context, http_async_client: Any = None) -> BaseChatModel:
    """A streaming ``ChatOpenAI`` for the context's server, model, budgets and extra body.

    Args:
        ctx: the run context.
        http_async_client: an ``httpx.AsyncClient`` owned by the caller (one per event loop);
            langchain-openai's shared default client breaks when a second event loop uses it.
    """
    settings = ctx.settings
    temperature = settings.temperature
    if temperature is None:
        temperature = ctx.profile.temperature
    kwargs: dict[str, Any] = {}
    if temperature is not None:
        kwargs["temperature"] = temperature
    if http_async_client is not None:
        kwargs["http_async_client"] = http_async_client
    return ChatOpenAI(
        model=settings.model,
        base_url=settings.base_url,
        api_key=settings.api_key,
        max_tokens=settings.max_tokens or ctx.profile.max_new_tokens,
        timeout=settings.request_timeout_s,
        max_retries=settings.retries,
        streaming=True,
        stream_usage=True,
        extra_body=dict(settings.extra_body) or None,
        **kwargs,
    )


@dataclass(frozen=True)
class Reply:
    """One model reply: its text, what it cost, and why it stopped early (if it did)."""

    text: str
    usage: Usage
    cut: LoopHit | None = None
    """Where the loop guard cut it."""
    out_of_time: bool = False
    """The run's wall-clock budget ran out while the reply was streaming."""


MALFORMED = (TypeError, KeyError, AttributeError, ValueError, RecursionError, IndexError)
"""What the client raises on a stream it cannot read (odd chunk shapes, bad JSON, bad UTF-8)."""


async def request(
    ctx: Context,
    messages: Sequence[BaseMessage],
    *,
    on_token: Callable[[str], None] | None = None,
    guard: bool | None = None,
    deadline: float | None = None,
) -> Reply:
    """Stream one reply from the model: the only way any node talks to it.

    Args:
        ctx: the run context (chat model, profile: stop strings and where reasoning arrives).
        messages: the request, already rendered (images as data URLs).
        on_token: called with each piece of text as it arrives.
        guard: watch the stream for loops and cancel the request at the first one (default:
            ``ctx.loop_guard``). Closing the stream makes the server stop generating.
        deadline: wall-clock time (``time.time()``) when the run's budget ends; the stream is
            closed then and the reply returned as it is (``out_of_time``).

    Raises:
        ModelServerError: the server could not be used, sent nothing for
            ``stream_idle_timeout_s``, or sent a stream the client cannot read (one line that
            says what happened).
    """
    detector = LoopDetector() if (ctx.loop_guard if guard is None else guard) else None
    pieces: list[str] = []
    chunks = 0
    usage = Usage(prompt_tokens=0, completion_tokens=0, requests=1)
    idle = ctx.settings.stream_idle_timeout_s
    loop = asyncio.get_running_loop()
    end = None if deadline is None else loop.time() + (deadline - time.time())
    out_of_time = False
    try:
        with server_errors(ctx):
            stream = cast(
                AsyncGenerator[AIMessageChunk, None],
                chat_model(ctx).astream(list(messages), stop=list(ctx.profile.stop)),
            )
            async with aclosing(stream) as reply_chunks:  # closing the stream cancels the request
                async with asyncio.timeout_at(_next_timeout(loop, idle, end)) as timer:
                    async for chunk in reply_chunks:
                        timer.reschedule(_next_timeout(loop, idle, end))
                        chunks += 1
                        meta = getattr(chunk, "usage_metadata", None)
                        if meta:
                            usage["prompt_tokens"] = int(meta.get("input_tokens", 0))
                            usage["completion_tokens"] = int(meta.get("output_tokens", 0))
                        delta = _delta_text(chunk, ctx)
                        if not delta:
                            continue
                        pieces.append(delta)
                        if on_token is not None:
                            on_token(delta)
                        if detector is not None and detector.feed(delta) is not None:
                            break
    except TimeoutError:
        if end is None or loop.time() < end - 0.05:
            raise ModelServerError(
                f"the model server at {ctx.settings.base_url} sent nothing for {idle:g} s "
                "(stream_idle_timeout_s); the request was closed"
            ) from None
        out_of_time = True
    except MALFORMED as exc:
        raise ModelServerError(
            f"the model server at {ctx.settings.base_url} sent a reply the client cannot read "
            f"({type(exc).__name__}: {_clip(str(exc))})"
        ) from None
    if chunks == 0 and not out_of_time:
        raise ModelServerError(
            f"the model server at {ctx.settings.base_url} sent an empty stream (no data): is it "
            "an OpenAI-compatible chat completions endpoint?"
        )
    if usage["completion_tokens"] == 0:
        # A cancelled stream sends no usage; vLLM streams about a token per chunk.
        usage["completion_tokens"] = len(pieces)
    hit = detector.hit if detector is not None else None
    return Reply("".join(pieces), usage, hit, out_of_time)


def _next_timeout(loop: asyncio.AbstractEventLoop, idle: float, end: float | None) -> float:
    """When the stream times out next: after ``idle`` seconds of silence, or at ``end``."""
    when = loop.time() + idle
    return when if end is None else min(when, end)


def _clip(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _delta_text(chunk: Any, ctx: Context) -> str:
    """The reasoning text in a chunk (``reasoning_content`` for profiles that put it there)."""
    if ctx.profile.reasoning_field == "reasoning_content":
        extra = getattr(chunk, "additional_kwargs", {}) or {}
        reasoning = extra.get("reasoning_content") or ""
        return str(reasoning) + str(chunk.text or "")
    return str(chunk.text or "")


def system_prompt(ctx: Context, image_ids: Sequence[str]) -> str:
    """The profile's system prompt with the tool manifest (text protocol only)."""
    if ctx.profile.tool_protocol != "text" or not ctx.tools.names:
        return ctx.profile.system_prompt
    manifest = prompts.TOOL_MANIFEST.format(
        image_ids=", ".join(image_ids) or "none",
        frame=prompts.FRAME_DESCRIPTIONS[ctx.profile.coord_frame],
        tools=ctx.tools.manifest(),
    )
    return ctx.profile.system_prompt + "\n" + manifest


def _image_ids(message: BaseMessage) -> list[str]:
    if not isinstance(message.content, list):
        return []
    return [
        str(part["image_id"])
        for part in message.content
        if isinstance(part, dict) and part.get("type") == IMAGE_REF
    ]


def render_messages(
    ctx: Context,
    messages: Sequence[BaseMessage],
    user_images: Sequence[str],
    *,
    system: SystemPrompt = "tools",
) -> list[BaseMessage]:
    """Request messages: system prompt, then the conversation with images as data URLs.

    When the conversation holds more images than the server accepts per request, the oldest
    tool images are replaced by a short text (the user's images always stay). ``system``:
    ``tools`` (the profile's prompt with the tool manifest), ``plain`` (without the manifest: a
    turn that may not call tools) or ``none`` (no system message).
    """
    all_ids = [image_id for m in messages for image_id in _image_ids(m)]
    budget = ctx.profile.max_images
    dropped: set[str] = set()
    if len(all_ids) > budget:
        droppable = [i for i in all_ids if i not in user_images]
        dropped = set(droppable[: len(all_ids) - budget])
    out: list[BaseMessage] = []
    if system == "tools":
        out.append(SystemMessage(content=system_prompt(ctx, user_images)))
    elif system == "plain":
        out.append(SystemMessage(content=ctx.profile.system_prompt))
    for message in messages:
        if not isinstance(message, HumanMessage) or not isinstance(message.content, list):
            out.append(message)
            continue
        parts: list[str | dict[str, Any]] = []
        for part in message.content:
            if isinstance(part, dict) and part.get("type") == IMAGE_REF:
                image_id = str(part["image_id"])
                if image_id in dropped:
                    parts.append({"type": "text", "text": f"[image {image_id} not shown again]"})
                else:
                    url = ctx.store.data_url(image_id, ctx.profile)
                    parts.append({"type": "image_url", "image_url": {"url": url}})
            else:
                parts.append(part)
        out.append(HumanMessage(content=parts))
    return out


def describe_server_error(exc: BaseException, ctx: Context) -> ModelServerError | None:
    """A one-line :class:`ModelServerError` for an error of the OpenAI client, else ``None``."""
    if isinstance(exc, openai.APITimeoutError):
        return ModelServerError(
            f"the model server at {ctx.settings.base_url} did not answer within "
            f"{ctx.settings.request_timeout_s:g} s"
        )
    if isinstance(exc, openai.APIConnectionError):
        port = urlsplit(ctx.settings.base_url).port or 8000
        return ModelServerError(
            f"cannot reach the model server at {ctx.settings.base_url}; start one with: "
            f"{vllm_command(ctx.profile, ctx.settings.model, port=port)}"
        )
    if isinstance(exc, openai.APIStatusError):
        message = _server_message(exc)
        return ModelServerError(
            f"the model server at {ctx.settings.base_url} answered {exc.status_code}: {message}"
        )
    if isinstance(exc, openai.OpenAIError):  # e.g. an error event inside the stream
        return ModelServerError(
            f"the model server at {ctx.settings.base_url} reported an error: "
            f"{_clip(str(getattr(exc, 'message', exc)))}"
        )
    return None


@contextmanager
def server_errors(ctx: Context) -> Iterator[None]:
    """Turn the OpenAI client's errors into :class:`ModelServerError` (one line, what to do)."""
    try:
        yield
    except openai.OpenAIError as exc:
        described = describe_server_error(exc, ctx)
        if described is None:
            raise
        raise described from exc


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return " ".join(str(inner["message"]).split())
        if isinstance(body.get("message"), str):
            return " ".join(str(body["message"]).split())
    return " ".join(str(exc.message).split())
