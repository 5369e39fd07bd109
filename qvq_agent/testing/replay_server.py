"""An OpenAI-compatible HTTP server on 127.0.0.1 that replays scripted replies.

It speaks enough of the chat completions API for the agent's real client path: ``GET
/v1/models``, ``GET /health``, ``POST /v1/chat/completions`` with or without streaming. Like vLLM
it cuts the reply at the first stop string, honours ``max_tokens`` and sends usage when asked.
Every request body is recorded; a streamed reply that the client abandons is recorded as
cancelled, with how many tokens had been sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from qvq_agent.testing.scripted import apply_stop, split_tokens


@dataclass
class Reply:
    """One scripted answer: a text, or an HTTP error."""

    text: str = ""
    status: int = 200
    """An HTTP status other than 200 sends ``{"error": {"message": text}}`` instead."""
    delay_s: float = 0.0
    """Pause between streamed tokens (to give a client time to cancel)."""
    wait_s: float = 0.0
    """Pause before the response starts (a server's time to first token)."""
    raw: list[bytes] | None = None
    """Send these pieces as the 200 response body instead (a misbehaving server: odd events,
    keep-alive comments only, HTML), ``delay_s`` apart."""
    content_type: str = "text/event-stream"
    """Content type of a ``raw`` body."""
    reasoning: str = ""
    """Streamed first, in ``reasoning_field`` deltas (a server with a reasoning parser)."""
    reasoning_field: str = "reasoning_content"
    """``reasoning_content`` (QVQ-Max's API, vLLM before 0.10) or ``reasoning`` (newer vLLM)."""
    tool_calls: list[tuple[str, str]] = field(default_factory=list)
    """Native tool calls ``(name, arguments JSON)`` streamed after the text, the arguments in
    pieces, as a server with a tool parser sends them."""


ScriptItem = str | Reply | Callable[[dict[str, Any]], "str | Reply"]


@dataclass
class Recorded:
    """A request the server received and what became of it."""

    body: dict[str, Any]
    sent_tokens: int = 0
    cancelled: bool = False
    finished: bool = False


@dataclass
class ReplayServer:
    """Start with ``with ReplayServer(script) as server:``; ``server.base_url`` ends in ``/v1``."""

    script: list[ScriptItem] = field(default_factory=list)
    model: str = "Qwen/QVQ-72B-Preview"
    repeat_last: bool = False
    """Keep answering with the last script item once the script is used up."""
    honour_stop: bool = True
    """Cut replies at the request's stop strings (a broken server for tests: False)."""
    models_body: bytes | None = None
    """Answer ``GET /v1/models`` with these bytes (a broken server for tests) instead of the
    model list."""
    requests: list[Recorded] = field(default_factory=list)
    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next: int = 0

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "the server is not running"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> ReplayServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Listen on a free port of 127.0.0.1 in a background thread."""
        handler = _make_handler(self)
        self._httpd = _QuietServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def wait_finished(self, timeout_s: float = 5.0) -> None:
        """Wait until every recorded request has finished or been cancelled."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(r.finished or r.cancelled for r in self.requests):
                return
            time.sleep(0.01)

    def next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if self._next >= len(self.script):
                if not (self.repeat_last and self.script):
                    return Reply("the replay script is used up", status=500)
                item = self.script[-1]
            else:
                item = self.script[self._next]
                self._next += 1
        try:
            result = item(body) if callable(item) else item
        except Exception as exc:  # a broken script answers 500 with the reason, visible in the test
            return Reply(f"the replay script raised {type(exc).__name__}: {exc}", status=500)
        return result if isinstance(result, Reply) else Reply(result)


class _QuietServer(ThreadingHTTPServer):
    """Clients that hang up (a cancelled stream) are expected; don't print their tracebacks."""

    request_queue_size = 1024
    """Listen backlog: concurrent runs open many connections at once (the default 5 makes the
    kernel reset some of them, as no real server would)."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        return


def _make_handler(server: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/") in ("/health",):
                self._json(200, {})
            elif self.path.rstrip("/") == "/v1/models" and server.models_body is not None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(server.models_body)))
                self.end_headers()
                self.wfile.write(server.models_body)
            elif self.path.rstrip("/") == "/v1/models":
                self._json(
                    200, {"object": "list", "data": [{"id": server.model, "object": "model"}]}
                )
            else:
                self._json(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                self._json(400, {"error": {"message": "invalid JSON"}})
                return
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._json(404, {"error": {"message": f"no route {self.path}"}})
                return
            record = Recorded(body)
            server.requests.append(record)
            reply = server.next_reply(body)
            if reply.wait_s:
                time.sleep(reply.wait_s)
            if reply.status != 200:
                record.finished = True
                self._json(reply.status, {"error": {"message": reply.text, "code": reply.status}})
                return
            if reply.raw is not None:
                self._raw(record, reply)
                return
            stop = body.get("stop") or []
            stop = [stop] if isinstance(stop, str) else stop
            reasoning = apply_stop(reply.reasoning, stop) if server.honour_stop else reply.reasoning
            stopped = server.honour_stop and reasoning != reply.reasoning
            text = (
                ""
                if stopped
                else (apply_stop(reply.text, stop) if server.honour_stop else reply.text)
            )
            thoughts = [(reply.reasoning_field, t) for t in split_tokens(reasoning)]
            tokens = split_tokens(text)
            limit = body.get("max_completion_tokens") or body.get("max_tokens")
            finish = "stop"
            if limit is not None and len(tokens) > int(limit):
                tokens, finish = tokens[: int(limit)], "length"
            usage = {
                "prompt_tokens": max(1, length // 4),
                "completion_tokens": len(thoughts) + len(tokens),
                "total_tokens": max(1, length // 4) + len(thoughts) + len(tokens),
            }
            if body.get("stream"):
                pieces = thoughts + [("content", t) for t in tokens]
                for index, (name, arguments) in enumerate(reply.tool_calls):
                    pieces.append(("tool_call", json.dumps([index, name, ""])))
                    for k in range(0, len(arguments), 8):
                        pieces.append(
                            ("tool_call", json.dumps([index, None, arguments[k : k + 8]]))
                        )
                if reply.tool_calls:
                    finish = "tool_calls"
                self._stream(record, body, pieces, finish, usage, reply.delay_s)
            else:
                record.sent_tokens, record.finished = len(tokens), True
                self._json(
                    200,
                    {
                        "id": "chatcmpl-replay",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", server.model),
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": finish,
                                "message": {"role": "assistant", "content": "".join(tokens)},
                            }
                        ],
                        "usage": usage,
                    },
                )

        def _raw(self, record: Recorded, reply: Reply) -> None:
            self.send_response(200)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for piece in reply.raw or []:
                    if reply.delay_s:
                        time.sleep(reply.delay_s)
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    self.wfile.flush()
                    record.sent_tokens += 1
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                record.finished = True
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                record.cancelled = True
                self.close_connection = True

        def _stream(
            self,
            record: Recorded,
            body: dict[str, Any],
            tokens: list[tuple[str, str]],
            finish: str,
            usage: dict[str, int],
            delay_s: float,
        ) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            base = {
                "id": "chatcmpl-replay",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": body.get("model", server.model),
            }

            def send(payload: dict[str, Any] | str) -> None:
                data = payload if isinstance(payload, str) else json.dumps(payload)
                line = f"data: {data}\n\n".encode()
                self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                self.wfile.flush()

            try:
                send(
                    {
                        **base,
                        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
                    }
                )
                for field_name, token in tokens:
                    if delay_s:
                        time.sleep(delay_s)
                    delta: dict[str, Any] = {field_name: token}
                    if field_name == "tool_call":
                        index, name, arguments = json.loads(token)
                        call: dict[str, Any] = {
                            "index": index,
                            "function": {"arguments": arguments},
                        }
                        if name is not None:
                            call.update(id=f"call_{index}", type="function")
                            call["function"]["name"] = name
                        delta = {"tool_calls": [call]}
                    send({**base, "choices": [{"index": 0, "delta": delta}]})
                    record.sent_tokens += 1
                send({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
                if (body.get("stream_options") or {}).get("include_usage"):
                    send({**base, "choices": [], "usage": usage})
                send("[DONE]")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                record.finished = True
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                record.cancelled = True
                self.close_connection = True

    return Handler
