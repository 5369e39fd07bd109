"""The chat model: a langchain-openai ``ChatOpenAI`` pointed at vLLM, and request rendering.

Also turns the state's messages (images by id) into request messages (images as data URLs, each
encoded once by the image store), and server failures into :class:`ModelServerError` with a
one-line explanation.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AnyMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from qvq_agent.agent import prompts
from qvq_agent.agent.context import Context
from qvq_agent.serving import vllm_command

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
    temperature = ctx.temperature if ctx.temperature is not None else ctx.profile.temperature
    kwargs: dict[str, Any] = {}
    if temperature is not None:
        kwargs["temperature"] = temperature
    if http_async_client is not None:
        kwargs["http_async_client"] = http_async_client
    return ChatOpenAI(
        model=ctx.model,
        base_url=ctx.base_url,
        api_key=ctx.api_key,
        max_tokens=ctx.max_tokens or ctx.profile.max_new_tokens,
        timeout=ctx.request_timeout_s,
        max_retries=ctx.retries,
        streaming=True,
        stream_usage=True,
        extra_body=ctx.extra_body or None,
        **kwargs,
    )


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
    ctx: Context, messages: Sequence[AnyMessage], user_images: Sequence[str]
) -> list[BaseMessage]:
    """Request messages: system prompt, then the conversation with images as data URLs.

    When the conversation holds more images than the server accepts per request, the oldest
    tool images are replaced by a short text (the user's images always stay).
    """
    all_ids = [image_id for m in messages for image_id in _image_ids(m)]
    budget = ctx.profile.max_images
    dropped: set[str] = set()
    if len(all_ids) > budget:
        droppable = [i for i in all_ids if i not in user_images]
        dropped = set(droppable[: len(all_ids) - budget])
    out: list[BaseMessage] = [SystemMessage(content=system_prompt(ctx, user_images))]
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
            f"the model server at {ctx.base_url} did not answer within {ctx.request_timeout_s:g} s"
        )
    if isinstance(exc, openai.APIConnectionError):
        port = urlsplit(ctx.base_url).port or 8000
        return ModelServerError(
            f"cannot reach the model server at {ctx.base_url}; start one with: "
            f"{vllm_command(ctx.profile, ctx.model, port=port)}"
        )
    if isinstance(exc, openai.APIStatusError):
        message = _server_message(exc)
        return ModelServerError(
            f"the model server at {ctx.base_url} answered {exc.status_code}: {message}"
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
