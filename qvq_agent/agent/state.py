"""Graph state: small, typed, and free of pixels (images travel by id through the image store)."""

from __future__ import annotations

import operator
from typing import Annotated, Literal, NotRequired, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

from qvq_agent.agent.checks import Finding

Status = Literal["running", "verified", "unverified", "error"]


class Usage(TypedDict):
    """Tokens and requests spent so far."""

    prompt_tokens: int
    completion_tokens: int
    requests: int


def add_usage(left: Usage | None, right: Usage | None) -> Usage:
    """Reducer: usage adds up over the run."""
    zero = Usage(prompt_tokens=0, completion_tokens=0, requests=0)
    a, b = left or zero, right or zero
    return Usage(
        prompt_tokens=a["prompt_tokens"] + b["prompt_tokens"],
        completion_tokens=a["completion_tokens"] + b["completion_tokens"],
        requests=a["requests"] + b["requests"],
    )


class ToolCallRecord(TypedDict):
    """One tool call the model made."""

    name: str
    arguments: dict[str, object]
    ok: bool
    text: str
    """What the tool answered (shown to the model)."""
    images: list[str]
    """Ids of the images it made."""
    value: str | None
    """The main result (a number, an image id) for checks that compare answers."""


class PendingCall(TypedDict):
    """A tool call read from the newest reply, waiting for the tool node."""

    name: str | None
    """``None`` when the block could not be read."""
    arguments: dict[str, object]
    error: str | None
    """Why the block could not be read."""
    call_id: NotRequired[str]
    """The server's id of a native tool call (answered by a ``tool`` message)."""


class SolveInput(TypedDict):
    """What a caller gives the solve graph."""

    question: str
    """The question about the images."""
    images: list[str]
    """Image ids already in the context's image store, or paths of image files."""
    choices: NotRequired[list[str]]
    """Multiple-choice options, if any (``A) 12``, ...)."""


class SolveOutput(TypedDict):
    """What the solve graph returns."""

    answer: str | None
    status: Status
    steps: int
    revisions: int
    tool_calls: list[ToolCallRecord]
    findings: list[Finding]
    notes: list[Finding]
    usage: Usage
    error: str | None


class SolveState(TypedDict):
    """The whole state of one solve run."""

    question: str
    """The question about the images."""
    images: list[str]
    """The user's images as given (ids or paths)."""
    choices: list[str]
    """Multiple-choice options, if any."""
    image_ids: list[str]
    """Ids of the user's images in the image store."""
    messages: Annotated[list[AnyMessage], add_messages]
    """The conversation after the system prompt; it only grows at its end."""
    steps: int
    """Model requests made."""
    revisions: int
    """Critiques sent back by the verifier."""
    pending: list[PendingCall]
    """Tool calls of the newest reply."""
    tool_calls: Annotated[list[ToolCallRecord], operator.add]
    """Every tool call of the run, in order."""
    stream_findings: list[Finding]
    """Findings of the online guard on the newest reply (a cut loop)."""
    findings: list[Finding]
    """Findings of the last verification that sent the model back (or would have)."""
    notes: list[Finding]
    """Findings of the last verification that did not block (warnings, or under the run's
    ``revise_confidence``): reported, not acted on."""
    answer: str | None
    """The final answer (text after the marker), once there is one."""
    status: Status
    """``running`` until the run ends."""
    usage: Annotated[Usage, add_usage]
    """Tokens and requests spent."""
    started_at: float
    """Wall-clock start of the run (``time.time()``), for the time budget."""
    error: str | None
    """Why the run stopped with status ``error``."""
