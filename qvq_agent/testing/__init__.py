"""Test doubles for your own tests: a scripted chat model and a loopback replay server.

The replay server and the scripted model honour stop strings the way vLLM does (the stop string
is cut from the reply). Names are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qvq_agent.testing.replay_server import ReplayServer, Reply
    from qvq_agent.testing.scripted import ScriptedChatModel, apply_stop, split_tokens

_EXPORTS = {
    "ReplayServer": "qvq_agent.testing.replay_server",
    "Reply": "qvq_agent.testing.replay_server",
    "ScriptedChatModel": "qvq_agent.testing.scripted",
    "apply_stop": "qvq_agent.testing.scripted",
    "split_tokens": "qvq_agent.testing.scripted",
}

__all__ = ["ReplayServer", "Reply", "ScriptedChatModel", "apply_stop", "split_tokens"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'qvq_agent.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
