"""A chat model that replays scripted replies, streaming them token by token."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field, PrivateAttr

ScriptItem = str | Callable[[Sequence[BaseMessage]], str]
_TOKEN = re.compile(r"\s*\S+|\s+")


def split_tokens(text: str) -> list[str]:
    """Split text into token-like pieces (a word with its leading space), as a server streams."""
    return _TOKEN.findall(text)


def apply_stop(text: str, stop: Sequence[str] | None) -> str:
    """Cut ``text`` at the first stop string, which is removed (as vLLM does)."""
    cut = len(text)
    for s in stop or ():
        pos = text.find(s)
        if pos != -1:
            cut = min(cut, pos)
    return text[:cut]


class ScriptedChatModel(BaseChatModel):
    """Replies from a script, in order; records every request it was sent.

    Each script item is a reply text or a function of the request messages that returns one.
    Running past the end of the script raises ``IndexError``.
    """

    script: list[ScriptItem] = Field(default_factory=list)
    requests: list[dict[str, Any]] = Field(default_factory=list)
    _next: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _reply(self, messages: Sequence[BaseMessage], stop: list[str] | None) -> str:
        self.requests.append({"messages": list(messages), "stop": list(stop or [])})
        if self._next >= len(self.script):
            raise IndexError(f"the script has only {len(self.script)} replies")
        item = self.script[self._next]
        self._next += 1
        text = item(messages) if callable(item) else item
        return apply_stop(text, stop)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = self._reply(messages, stop)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for piece in split_tokens(self._reply(messages, stop)):
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for piece in split_tokens(self._reply(messages, stop)):
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
