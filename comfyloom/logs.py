"""Logs: plain text for people, or one JSON object per line (`LOG_FORMAT=json`) for log pipelines.

Either way a filter masks API keys and bearer or query-string secrets, wherever a message or an
access-log line would carry them. Prompts are never logged: they are one user's text, stored with
the image, not sent to operators' log pipelines.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

_SECRETS = [
    (re.compile(r"\bcl_[A-Za-z0-9_-]{8,}"), "cl_…"),
    (re.compile(r"(?i)(bearer\s+)[^\s'\"]+"), r"\1…"),
    (re.compile(r"(?i)((?:access_token|api_key|key|token|password|secret|signature|credential)=)[^&\s'\"]+"), r"\1…"),
]
# LogRecord attributes that are not caller-supplied extras.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                # Temporal's loggers attach the run: temporal_workflow / temporal_activity dicts.
                entry[key] = value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def configure_logging(service: str, log_format: str = "text", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RedactSecrets())
    if log_format == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s {service} %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # A line per HTTP request (the GPU worker asks ComfyUI's /queue twice a second when idle) is for debugging.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    # uvicorn's loggers keep their own handlers otherwise: route them through this one.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
