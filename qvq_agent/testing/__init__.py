"""Test doubles shipped with the package: a scripted chat model and a loopback replay server.

Both honour stop strings the way vLLM does (the stop string is cut from the reply), so graph
logic and the real HTTP client path can be tested without a model.
"""

from __future__ import annotations

from qvq_agent.testing.replay_server import ReplayServer, Reply
from qvq_agent.testing.scripted import ScriptedChatModel, apply_stop, split_tokens

__all__ = ["ReplayServer", "Reply", "ScriptedChatModel", "apply_stop", "split_tokens"]
