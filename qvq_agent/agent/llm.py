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
import weakref
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
    ToolMessage,
)
from langchain_openai import ChatOpenAI

from qvq_agent import prompts
from qvq_agent.agent.checks.loop import LoopDetector, LoopHit
from qvq_agent.agent.context import Context
from qvq_agent.agent.state import Usage
from qvq_agent.profiles import TOOL_CALL_STOP
from qvq_agent.serving import vllm_command

SystemPrompt = Literal["tools", "plain", "none"]

IMAGE_REF = "image_ref"
"""Content-part type that stands for an image by id in state messages."""


class ModelServerError(RuntimeError):
    """The model server could not be used; the message is one line that says what to do."""


def image_part(image_id: str) -> dict[str, str]:
    """A content part that refers to an image in the store (no pixels in state)."""
    return {"type": IMAGE_REF, "image_id": image_id}


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
    native_calls: tuple[NativeCall, ...] = ()
    """Tool calls the server parsed out of the reply (native protocol)."""


@dataclass(frozen=True)
class NativeCall:
    """A tool call as the server sent it: its id, the tool's name, the arguments' JSON text."""

    id: str
    name: str
    arguments: str


class NativeCalls:
    """Tool calls streamed in pieces (``delta.tool_calls`` by index), put together."""

    def __init__(self) -> None:
        self._parts: dict[int, dict[str, str]] = {}

    def feed(
        self, index: int, call_id: str | None, name: str | None, arguments: str | None
    ) -> None:
        part = self._parts.setdefault(index, {"id": "", "name": "", "arguments": ""})
        part["id"] = call_id or part["id"]
        part["name"] += name or ""
        part["arguments"] += arguments or ""

    def calls(self) -> tuple[NativeCall, ...]:
        return tuple(
            NativeCall(p["id"] or f"call_{i}", p["name"], p["arguments"])
            for i, p in sorted(self._parts.items())
        )


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
    native = NativeCalls()
    pieces: list[str] = []
    chunks = 0
    usage = Usage(prompt_tokens=0, completion_tokens=0, requests=1)
    idle = ctx.settings.stream_idle_timeout_s
    loop = asyncio.get_running_loop()
    end = None if deadline is None else loop.time() + (deadline - time.time())
    out_of_time = False
    try:
        with server_errors(ctx):
            source = _deltas(ctx, messages, native)
            async with aclosing(source) as deltas:  # closing the stream cancels the request
                async with asyncio.timeout_at(_next_timeout(loop, idle, end)) as timer:
                    async for delta, counted in deltas:
                        timer.reschedule(_next_timeout(loop, idle, end))
                        chunks += 1
                        if counted is not None:
                            usage["prompt_tokens"], usage["completion_tokens"] = counted
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
    return Reply("".join(pieces), usage, hit, out_of_time, native.calls())


Delta = tuple[str, tuple[int, int] | None]
"""A piece of the reply's text, and (prompt, completion) tokens when the chunk reports them."""


def native_tools(ctx: Context) -> list[dict[str, Any]]:
    """The tools to send with each request: all of them for the native protocol, else none."""
    if ctx.profile.tool_protocol != "native" or not ctx.tools.names:
        return []
    return ctx.tools.openai_tools()


def stop_strings(ctx: Context) -> list[str]:
    """The profile's stop strings; with native tools not ``</tool_call>``: the server's tool
    parser needs the whole block."""
    if native_tools(ctx):
        return [s for s in ctx.profile.stop if s != TOOL_CALL_STOP]
    return list(ctx.profile.stop)


async def _deltas(
    ctx: Context, messages: Sequence[BaseMessage], native: NativeCalls
) -> AsyncGenerator[Delta, None]:
    """The reply as it streams: through the OpenAI SDK, or through ``ctx.chat_model`` when the
    context brings one (tests, other LangChain providers; native tools bound with
    ``bind_tools``). Native tool calls are collected in ``native``."""
    tools = native_tools(ctx)
    if ctx.chat_model is not None:
        model: Any = ctx.chat_model.bind_tools(tools) if tools else ctx.chat_model
        stream = cast(
            AsyncGenerator[AIMessageChunk, None],
            model.astream(list(messages), stop=stop_strings(ctx)),
        )
        joiner = ThinkJoiner()
        async with aclosing(stream) as chunks:
            async for chunk in chunks:
                meta = getattr(chunk, "usage_metadata", None)
                counted = (
                    (int(meta.get("input_tokens", 0)), int(meta.get("output_tokens", 0)))
                    if meta
                    else None
                )
                reasoning = _reasoning(getattr(chunk, "additional_kwargs", None))
                for piece in getattr(chunk, "tool_call_chunks", None) or []:
                    native.feed(
                        int(piece.get("index") or 0),
                        piece.get("id"),
                        piece.get("name"),
                        piece.get("args"),
                    )
                yield joiner.feed(reasoning, str(chunk.text or "")), counted
        return
    settings = ctx.settings
    temperature = settings.temperature
    if temperature is None:
        temperature = ctx.profile.temperature
    options: dict[str, Any] = {
        "model": settings.model,
        "messages": [openai_message(m) for m in messages],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": settings.max_tokens or ctx.profile.max_new_tokens,
        "stop": stop_strings(ctx) or None,
    }
    if tools:
        options["tools"] = tools
    if temperature is not None:
        options["temperature"] = temperature
    options.update(settings.extra_body)
    # The body goes as it is and each chunk comes back as the server's JSON (a dict): the SDK's
    # own parameter transform and per-chunk models cost more CPU than the rest of a request
    # (about 90 us a chunk, a token each). Errors, timeouts and retries stay the SDK's.
    events = await openai_client(ctx).post(
        "/chat/completions",
        body=options,
        cast_to=object,
        stream=True,
        stream_cls=openai.AsyncStream[object],
    )
    joiner = ThinkJoiner()
    try:
        async for data in events:
            yield _chunk_delta(cast(dict[str, Any], data), joiner, native)
    finally:
        await events.close()


def _chunk_delta(chunk: dict[str, Any], joiner: ThinkJoiner, native: NativeCalls) -> Delta:
    """One streamed chunk (the server's JSON) as a piece of text and its token counts; native
    tool calls go to ``native``. An odd shape raises one of :data:`MALFORMED`."""
    usage = chunk.get("usage")
    counted = None
    if usage:
        counted = (int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
    text = ""
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        text += joiner.feed(_reasoning(delta), _text(delta.get("content")))
        for call in delta.get("tool_calls") or ():
            function = call.get("function") or {}
            native.feed(
                int(call.get("index") or 0),
                _text(call.get("id")) or None,
                _text(function.get("name")) or None,
                _text(function.get("arguments")) or None,
            )
    return text, counted


def _text(value: Any) -> str:
    """A string field of a chunk; anything else there is a malformed stream."""
    if value is None or isinstance(value, str):
        return value or ""
    raise TypeError(f"expected a string in the stream, got {type(value).__name__}")


def _reasoning(fields: dict[str, Any] | None) -> str:
    """The reasoning in a delta's extra fields: ``reasoning_content`` (QVQ-Max, vLLM's reasoning
    parsers before 0.10) or ``reasoning`` (newer vLLM)."""
    if not fields:
        return ""
    return str(fields.get("reasoning_content") or fields.get("reasoning") or "")


class ThinkJoiner:
    """Joins a reply whose reasoning arrives apart from its content (a server with a reasoning
    parser, QVQ-Max) into one text: the reasoning inside ``<think>...</think>``, then the
    content, so the trace is verified whole and tool calls written while thinking are found."""

    def __init__(self) -> None:
        self.thinking = False

    def feed(self, reasoning: str | None, content: str | None) -> str:
        out = ""
        if reasoning:
            out += reasoning if self.thinking else "<think>\n" + reasoning
            self.thinking = True
        if content:
            out += "\n</think>\n\n" + content if self.thinking else content
            self.thinking = False
        return out


def openai_message(message: BaseMessage) -> dict[str, Any]:
    """A rendered message as the OpenAI chat API takes it (native tool calls and ``tool``
    results included)."""
    role = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}.get(
        message.type
    )
    if role is None:
        raise ValueError(f"a {message.type} message cannot be sent")
    if isinstance(message, ToolMessage):
        return {
            "role": "tool",
            "tool_call_id": message.tool_call_id,
            "content": str(message.content),
        }
    calls = message.additional_kwargs.get(NATIVE_CALLS) if role == "assistant" else None
    if calls:
        return {"role": "assistant", "content": str(message.content), "tool_calls": calls}
    content = message.content
    if isinstance(content, list):
        return {
            "role": role,
            "content": [p if isinstance(p, dict) else {"type": "text", "text": p} for p in content],
        }
    return {"role": role, "content": content}


_CLIENTS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[Any, ...], openai.AsyncOpenAI]
] = weakref.WeakKeyDictionary()


def openai_client(ctx: Context) -> openai.AsyncOpenAI:
    """The OpenAI client for the context's server, one per event loop and server (its
    connections belong to that loop), reused by every run on it."""
    settings = ctx.settings
    backend = ctx.http_backend
    key = (
        settings.base_url,
        settings.api_key,
        settings.request_timeout_s,
        settings.retries,
        backend,
    )
    clients = _CLIENTS.setdefault(asyncio.get_running_loop(), {})
    client = clients.get(key)
    if client is None:
        plain = settings.base_url.startswith("http://")
        # http:// never verifies a certificate: skip loading the CA bundle (tens of ms).
        transport = (
            openai.DefaultAioHttpClient if backend == "aiohttp" else openai.DefaultAsyncHttpxClient
        )
        http = transport(verify=not plain, timeout=settings.request_timeout_s)
        client = openai.AsyncOpenAI(
            base_url=settings.base_url,
            api_key=settings.api_key,
            timeout=settings.request_timeout_s,
            max_retries=settings.retries,
            http_client=http,
        )
        clients[key] = client
    return client


async def aclose_clients() -> None:
    """Close the OpenAI clients of the running event loop (call before the loop ends)."""
    clients = _CLIENTS.pop(asyncio.get_running_loop(), {})
    for client in clients.values():
        await client.close()


def _next_timeout(loop: asyncio.AbstractEventLoop, idle: float, end: float | None) -> float:
    """When the stream times out next: after ``idle`` seconds of silence, or at ``end``."""
    when = loop.time() + idle
    return when if end is None else min(when, end)


def _clip(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


NATIVE_CALLS = "native_tool_calls"
"""Key of an AI message's ``additional_kwargs`` holding its native tool calls (OpenAI form)."""


def system_prompt(ctx: Context, image_ids: Sequence[str]) -> str:
    """The profile's system prompt with the tool manifest (text protocol), or with a note on
    image ids and the coordinate frame (native protocol: the schemas go in ``tools``)."""
    if not ctx.tools.names:
        return ctx.profile.system_prompt
    if ctx.profile.tool_protocol == "native":
        note = prompts.NATIVE_TOOLS_NOTE.format(
            image_ids=", ".join(image_ids) or "none",
            frame=prompts.FRAME_DESCRIPTIONS[ctx.profile.coord_frame],
        )
        return ctx.profile.system_prompt + "\n" + note
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


async def render(
    ctx: Context,
    messages: Sequence[BaseMessage],
    user_images: Sequence[str],
    *,
    system: SystemPrompt = "tools",
) -> list[BaseMessage]:
    """:func:`render_messages`, in a worker thread when an image still has to be encoded (CPU
    work that must not stall the other runs sharing the event loop); on the loop when every
    image is encoded already, since a hop to a thread then costs more than the work."""
    images = [i for m in messages for i in _image_ids(m)]
    if all(ctx.store.is_encoded(i, ctx.profile) for i in images):
        return render_messages(ctx, messages, user_images, system=system)
    return await asyncio.to_thread(render_messages, ctx, messages, user_images, system=system)


def describe_server_error(exc: BaseException, ctx: Context) -> ModelServerError | None:
    """A one-line :class:`ModelServerError` for an error of the OpenAI client, else ``None``."""
    if isinstance(exc, openai.APITimeoutError) and _timed_out(exc):
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


def _from_aiohttp(exc: BaseException) -> bool:
    """Whether ``exc`` is one of aiohttp's own errors (the transport of ``http_backend``)."""
    return type(exc).__module__.startswith("aiohttp")


def _timed_out(exc: BaseException) -> bool:
    """Whether the client's timeout error comes from a timeout: the aiohttp transport reports a
    refused or dropped connection as a connect timeout too."""
    cause = exc.__cause__
    for _ in range(8):
        if cause is None or isinstance(cause, TimeoutError):
            return True
        if isinstance(cause, OSError) or _from_aiohttp(cause):
            return False
        cause = cause.__cause__
    return True


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
    except Exception as exc:
        # The aiohttp transport lets some of its own errors through (a reply that is not HTTP).
        if not _from_aiohttp(exc):
            raise
        raise ModelServerError(
            f"the connection to the model server at {ctx.settings.base_url} failed "
            f"({type(exc).__name__}: {_clip(str(exc))})"
        ) from exc


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return " ".join(str(inner["message"]).split())
        if isinstance(body.get("message"), str):
            return " ".join(str(body["message"]).split())
    return " ".join(str(exc.message).split())
