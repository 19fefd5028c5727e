"""The access log: one line per request, JSON for machines, readable in a terminal.

``log_request`` writes one record on the ``veneer.access`` logger with the
request id, method, path, model, version, status, latency and protocol. It is
token-free by construction: it takes no headers, drops the query string (where
a careless client might put a token) and caps every value's length, so a log
line can neither leak a credential nor be forged with embedded newlines.

``configure_logging`` installs one stderr handler on the ``veneer`` logger:
JSON lines (``fmt="json"``), human-readable text (``"text"``), or text only when
stderr is a terminal (``"auto"``), so containers and log shippers get JSON.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

ACCESS_LOGGER = "veneer.access"
_MAX_PATH = 256
_MAX_FIELD = 128
_HANDLER_MARK = "_veneer_handler"

access_logger = logging.getLogger(ACCESS_LOGGER)


def _clean(value: object | None, limit: int = _MAX_FIELD) -> str | None:
    if value is None:
        return None
    text = str(value)
    # control characters would let a client forge extra lines in text logs
    text = "".join(ch if ch.isprintable() else "?" for ch in text[:limit])
    return text


def log_request(*, request_id: str | None, method: str, path: str, model: str | None,
                version: str | None, status: int, seconds: float, protocol: str | None,
                remote: str | None = None) -> None:
    """Write the access-log line of one finished request (any status)."""
    if not access_logger.isEnabledFor(logging.INFO):
        return
    fields = {
        "request_id": _clean(request_id),
        "method": _clean(method, 16),
        "path": _clean(str(path).split("?", 1)[0], _MAX_PATH),
        "model": _clean(model),
        "version": _clean(version, 64),
        "status": int(status),
        "duration_ms": round(max(0.0, float(seconds)) * 1000.0, 3),
        "protocol": _clean(protocol, 32),
        "remote": _clean(remote, 64),
    }
    access_logger.info("%s %s %s", fields["method"], fields["path"], fields["status"],
                       extra={"veneer": fields})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, pid and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                  + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
        }
        fields = getattr(record, "veneer", None)
        if isinstance(fields, dict):
            entry.update({k: v for k, v in fields.items() if v is not None})
        else:
            entry["message"] = record.getMessage()
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Readable lines for a terminal: ``12:00:01 INFO  access 200 POST /v2/... 3.1 ms risk/churn v1``."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        fields = getattr(record, "veneer", None)
        if isinstance(fields, dict) and record.name == ACCESS_LOGGER:
            model = fields.get("model") or "-"
            version = f" v{fields['version']}" if fields.get("version") else ""
            line = (f"{stamp} {fields['status']} {fields['method']} {fields['path']} "
                    f"{fields['duration_ms']:.1f} ms {model}{version} "
                    f"[{fields.get('request_id') or '-'}]")
        else:
            line = f"{stamp} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def resolve_format(fmt: str = "auto", stream=None) -> str:
    """``json`` or ``text``: ``auto`` picks text when ``stream`` (stderr) is a terminal."""
    fmt = (fmt or "auto").lower()
    if fmt in ("json", "text"):
        return fmt
    if fmt != "auto":
        from veneer.wrapper.errors import ConfigError

        raise ConfigError(f"Unknown log format {fmt!r}.", path="server.log_format",
                          fix="Use one of: auto, json, text.")
    stream = stream if stream is not None else sys.stderr
    try:
        return "text" if os.isatty(stream.fileno()) else "json"
    except (AttributeError, OSError, ValueError):
        return "json"


def configure_logging(fmt: str = "auto", *, level: int = logging.INFO, stream=None) -> None:
    """Send the ``veneer`` loggers to stderr in ``fmt``; calling again replaces the handler."""
    stream = stream if stream is not None else sys.stderr
    chosen = resolve_format(fmt, stream)
    root = logging.getLogger("veneer")
    for h in list(root.handlers):
        if getattr(h, _HANDLER_MARK, False):
            root.removeHandler(h)
    handler = logging.StreamHandler(stream)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(JsonFormatter() if chosen == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    # the access lines are the product here; do not also print them via the root logger
    root.propagate = False
