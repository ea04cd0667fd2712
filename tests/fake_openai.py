"""A scripted, OpenAI-compatible HTTP server for tests (standard library only).

The real ``openai`` client talks to it over loopback::

    from tests.fake_openai import FakeOpenAI, Reply

    with FakeOpenAI() as srv:
        srv.queue("first answer", Reply(status=429), Reply(content="after retry"))
        client = openai.OpenAI(base_url=srv.base_url, api_key="sk-test")
        ...
        assert "question" in srv.last_prompt

Chat completions (``POST /v1/chat/completions``, plain or ``stream: true``)
consume the chat queue; when it is empty the optional ``responder`` callable
answers (``fn(request_json) -> str | Reply``); with neither, a 500 error says
the script ran out.  Embeddings (``POST /v1/embeddings``) are deterministic
hash-based unit vectors; they consume only the separate ``queue_embeddings``
queue (use it to script errors / delays / dims for embedding calls).
``GET /v1/models`` lists the configured model ids.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import math
import re
import socket
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeOpenAI", "Reply", "fake_embedding"]

DEFAULT_EMBEDDING_DIM = 64

_ERROR_TYPES = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", "permission_denied"),
    404: ("invalid_request_error", "not_found"),
    408: ("timeout_error", "timeout"),
    409: ("conflict_error", "conflict"),
    422: ("invalid_request_error", "unprocessable_entity"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


@dataclass
class Reply:
    """One scripted answer.

    content:       assistant message text (chat) -- ignored by embeddings.
    status:        HTTP status; >= 400 sends an OpenAI-style error body.
    delay:         seconds to sleep before answering (to trigger client timeouts).
    raw:           if set, sent verbatim as the body (e.g. malformed JSON / SSE).
    headers:       extra response headers.
    usage:         usage dict; default computed by whitespace token counts.
    error_message: message for error replies (default derived from status).
    error_type / error_code: override the error body's ``type`` / ``code``.
    finish_reason: chat finish_reason (e.g. "length" to simulate truncation).
    dim:           embedding dimension override for embedding replies.
    """

    content: str = ""
    status: int = 200
    delay: float = 0.0
    raw: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    usage: dict[str, Any] | None = None
    error_message: str | None = None
    error_type: str | None = None
    error_code: str | None = None
    finish_reason: str = "stop"
    dim: int | None = None


Responder = Callable[[dict[str, Any]], "str | Reply"]


def _as_reply(item: str | Reply) -> Reply:
    if isinstance(item, Reply):
        return item
    if isinstance(item, str):
        return Reply(content=item)
    raise TypeError(f"scripted reply must be str or Reply, got {type(item).__name__}")


def _text_of(content: Any) -> str:
    """Text of a message ``content`` (str, or list of content parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts)
    return str(content)


def _prompt_of(body: dict[str, Any] | None) -> str:
    if not isinstance(body, dict):
        return ""
    msgs = body.get("messages") or []
    return "\n".join(_text_of(m.get("content")) for m in msgs if isinstance(m, dict))


def _count_tokens(text: str) -> int:
    return len(text.split())


def fake_embedding(text: str, dim: int = DEFAULT_EMBEDDING_DIM) -> list[float]:
    """Deterministic, L2-normalised, hash-based embedding of ``text``."""
    if dim <= 0:
        raise ValueError("dim must be positive")
    values: list[float] = []
    counter = 0
    data = text.encode("utf-8")
    while len(values) < dim:
        digest = hashlib.sha256(data + b"\x00" + counter.to_bytes(4, "little")).digest()
        for i in range(0, len(digest), 4):
            (n,) = struct.unpack("<I", digest[i : i + 4])
            values.append(n / 0xFFFFFFFF * 2.0 - 1.0)
        counter += 1
    values = values[:dim]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: FakeOpenAI

    def handle_error(self, request: Any, client_address: Any) -> None:  # silence
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "FakeOpenAI/1.0"
    sys_version = ""

    # -- plumbing -----------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.owner._track(self.connection, add=False)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        try:
            self._handle(method)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError):
            self.close_connection = True

    def _read_body(self) -> tuple[str, Any]:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        text = raw.decode("utf-8", errors="replace")
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = None
        return text, body

    def _send(
        self,
        status: int,
        body: str | bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", f"req_fake_{uuid.uuid4().hex[:12]}")
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_error(self, status: int, message: str, reply: Reply | None = None) -> None:
        etype, ecode = _ERROR_TYPES.get(
            status,
            (
                "server_error" if status >= 500 else "invalid_request_error",
                "server_error" if status >= 500 else None,
            ),
        )
        if reply is not None:
            etype = reply.error_type or etype
            ecode = reply.error_code or ecode
        payload = {"error": {"message": message, "type": etype, "param": None, "code": ecode}}
        headers: dict[str, str] = {}
        if status == 429:
            # `retry-after: 0` is ignored by the client (it wants > 0), so also send
            # a 1 ms `retry-after-ms`, which it prefers: retries become near-instant.
            headers["retry-after"] = "0"
            headers["retry-after-ms"] = "1"
        if reply is not None:
            headers.update(reply.headers)
        self._send(status, json.dumps(payload), headers=headers)

    # -- routing ------------------------------------------------------------

    def _handle(self, method: str) -> None:
        owner = self.server.owner
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        text, body = self._read_body() if method != "GET" else ("", None)
        owner._record(
            {
                "method": method,
                "path": path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "json": body,
                "body": text,
            }
        )

        if owner.require_key is not None:
            auth = self.headers.get("authorization") or ""
            if auth != f"Bearer {owner.require_key}":
                self._send_error(401, "Incorrect API key provided (FakeOpenAI require_key mismatch).")
                return

        if method == "POST" and path == "/v1/chat/completions":
            self._chat(body)
        elif method == "POST" and path == "/v1/embeddings":
            self._embeddings(body)
        elif method == "GET" and path == "/v1/models":
            self._send(
                200, json.dumps({"object": "list", "data": [owner._model_obj(m) for m in owner.models]})
            )
        elif method == "GET" and path.startswith("/v1/models/"):
            mid = path[len("/v1/models/") :]
            if mid in owner.models:
                self._send(200, json.dumps(owner._model_obj(mid)))
            else:
                self._send_error(404, f"The model '{mid}' does not exist")
        else:
            self._send_error(404, f"FakeOpenAI: no route for {method} {path}")

    def _wait(self, reply: Reply) -> bool:
        """Sleep ``reply.delay``; returns False if the server is shutting down."""
        if reply.delay > 0:
            self.server.owner._stopping.wait(reply.delay)
        return not self.server.owner._stopping.is_set()

    def _common_reply(self, reply: Reply, streaming: bool = False) -> bool:
        """Handle delay / raw / error replies. Returns True if the reply was fully sent."""
        if not self._wait(reply):
            self.close_connection = True
            return True
        if reply.raw is not None:
            ctype = "text/event-stream" if streaming and reply.status < 400 else "application/json"
            self._send(reply.status, reply.raw, content_type=ctype, headers=reply.headers)
            return True
        if reply.status >= 400:
            msg = reply.error_message or f"FakeOpenAI scripted error (HTTP {reply.status})"
            self._send_error(reply.status, msg, reply)
            return True
        return False

    # -- chat ---------------------------------------------------------------

    def _chat(self, body: Any) -> None:
        owner = self.server.owner
        if not isinstance(body, dict):
            self._send_error(400, "FakeOpenAI: request body is not a JSON object")
            return
        try:
            reply = owner._next_chat_reply(body)
        except Exception as exc:  # responder failed or script ran out
            self._send_error(500, str(exc))
            return
        stream = bool(body.get("stream"))
        if self._common_reply(reply, streaming=stream):
            return

        model = body.get("model") or "fake-model"
        usage = reply.usage
        if usage is None:
            pt, ct = _count_tokens(_prompt_of(body)), _count_tokens(reply.content)
            usage = {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}
        cid = f"chatcmpl-fake{owner._next_id()}"
        created = int(time.time())

        if not stream:
            payload = {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": reply.content, "refusal": None},
                        "logprobs": None,
                        "finish_reason": reply.finish_reason,
                    }
                ],
                "usage": usage,
                "system_fingerprint": "fp_fake",
            }
            self._send(200, json.dumps(payload), headers=reply.headers)
            return

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(
            delta: dict[str, Any] | None, finish: str | None, with_usage: bool = False
        ) -> dict[str, Any]:
            c: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": []
                if delta is None
                else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            if include_usage:
                c["usage"] = usage if with_usage else None
            return c

        events = [chunk({"role": "assistant", "content": ""}, None)]
        events += [chunk({"content": piece}, None) for piece in re.findall(r"\s*\S+\s*|\s+", reply.content)]
        events.append(chunk({}, reply.finish_reason))
        if include_usage:
            events.append(chunk(None, None, with_usage=True))

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", f"req_fake_{uuid.uuid4().hex[:12]}")
        for k, v in reply.headers.items():
            self.send_header(k, str(v))
        self.end_headers()
        for ev in events:
            self._write_chunk(f"data: {json.dumps(ev)}\n\n")
        self._write_chunk("data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _write_chunk(self, text: str) -> None:
        data = text.encode("utf-8")
        self.wfile.write(f"{len(data):x}\r\n".encode("ascii") + data + b"\r\n")
        self.wfile.flush()

    # -- embeddings ---------------------------------------------------------

    def _embeddings(self, body: Any) -> None:
        owner = self.server.owner
        if not isinstance(body, dict) or "input" not in body:
            self._send_error(400, "FakeOpenAI: embeddings request needs an 'input'")
            return
        reply = owner._next_embedding_reply()
        if reply is not None and self._common_reply(reply):
            return
        inp = body["input"]
        if isinstance(inp, str) or (isinstance(inp, list) and inp and isinstance(inp[0], int)):
            inputs: list[Any] = [inp]
        elif isinstance(inp, list):
            inputs = list(inp)
        else:
            self._send_error(400, "FakeOpenAI: 'input' must be a string or a list")
            return
        dim = (
            (reply.dim if reply is not None and reply.dim else None)
            or body.get("dimensions")
            or owner.embedding_dim
        )
        as_b64 = body.get("encoding_format") == "base64"
        data = []
        tokens = 0
        for i, item in enumerate(inputs):
            text = item if isinstance(item, str) else json.dumps(item)
            tokens += _count_tokens(text) if isinstance(item, str) else len(item)
            vec = fake_embedding(text, int(dim))
            emb: Any = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode("ascii") if as_b64 else vec
            data.append({"object": "embedding", "index": i, "embedding": emb})
        usage = (
            reply.usage
            if reply is not None and reply.usage is not None
            else {"prompt_tokens": tokens, "total_tokens": tokens}
        )
        payload = {
            "object": "list",
            "data": data,
            "model": body.get("model") or "fake-embedding",
            "usage": usage,
        }
        self._send(200, json.dumps(payload), headers=reply.headers if reply is not None else None)


class FakeOpenAI:
    """Local OpenAI-compatible server driven by a script of :class:`Reply` objects.

    Args:
        responder: fallback ``fn(request_json) -> str | Reply`` used when the
            chat queue is empty.
        require_key: if set, requests whose ``Authorization`` isn't
            ``Bearer <require_key>`` get a 401.
        embedding_dim: default embedding dimension (64).
        models: model ids listed by ``GET /v1/models``.
    """

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        require_key: str | None = None,
        embedding_dim: int = DEFAULT_EMBEDDING_DIM,
        models: Iterable[str] = ("fake-model",),
    ) -> None:
        self.responder = responder
        self.require_key = require_key
        self.embedding_dim = embedding_dim
        self.models = list(models)
        self.requests: list[dict[str, Any]] = []
        self._chat_queue: deque[Reply] = deque()
        self._emb_queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._counter = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> FakeOpenAI:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="FakeOpenAI", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes handlers sleeping on a delay
        server.shutdown()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # unblock keep-alive handlers waiting for a next request
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not running")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting ----------------------------------------------------------

    def queue(self, *replies: str | Reply) -> FakeOpenAI:
        """Append chat-completion replies (str is shorthand for ``Reply(content=...)``)."""
        items = [_as_reply(r) for r in replies]
        with self._lock:
            self._chat_queue.extend(items)
        return self

    def queue_embeddings(self, *replies: Reply) -> FakeOpenAI:
        """Append scripted replies for embeddings calls (errors, delays, ``dim``)."""
        items = [_as_reply(r) for r in replies]
        with self._lock:
            self._emb_queue.extend(items)
        return self

    @property
    def pending(self) -> int:
        """Number of queued chat replies not yet consumed."""
        with self._lock:
            return len(self._chat_queue)

    # -- inspection ---------------------------------------------------------

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """JSON bodies of every chat-completion request, in order."""
        with self._lock:
            return [
                r["json"]
                for r in self.requests
                if r["method"] == "POST" and r["path"] == "/v1/chat/completions"
            ]

    @property
    def embedding_requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                r["json"] for r in self.requests if r["method"] == "POST" and r["path"] == "/v1/embeddings"
            ]

    @property
    def last_prompt(self) -> str:
        """Message contents of the last chat request, joined by newlines ("" if none)."""
        reqs = self.chat_requests
        return _prompt_of(reqs[-1]) if reqs else ""

    # -- internals (called from handler threads) ----------------------------

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(entry)

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def _next_id(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    def _next_chat_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if self._chat_queue:
                return self._chat_queue.popleft()
        if self.responder is not None:
            try:
                return _as_reply(self.responder(body))
            except Exception as exc:
                raise RuntimeError(f"FakeOpenAI: responder raised {type(exc).__name__}: {exc}") from exc
        raise RuntimeError(
            "FakeOpenAI: script ran out - no queued reply left and no responder set "
            f"(chat request #{len(self.chat_requests)}; prompt starts {_prompt_of(body)[:80]!r})"
        )

    def _next_embedding_reply(self) -> Reply | None:
        with self._lock:
            return self._emb_queue.popleft() if self._emb_queue else None

    @staticmethod
    def _model_obj(mid: str) -> dict[str, Any]:
        return {"id": mid, "object": "model", "created": 0, "owned_by": "fake-openai"}
