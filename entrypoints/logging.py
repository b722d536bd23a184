import logging
import re
import sys
from typing import Any, TextIO

import structlog

_SECRET_KEY = re.compile(r"token|secret|signature|authorization|password|cookie", re.IGNORECASE)


def _redact(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    # Nothing should log a credential; this makes sure a careless call cannot.
    for key in event:
        if _SECRET_KEY.search(key):
            event[key] = "[redacted]"
    return event


# Frame locals would print request bodies and the signatures computed from the client secrets.
_TRACEBACKS = structlog.processors.ExceptionRenderer(structlog.tracebacks.ExceptionDictTransformer(show_locals=False))


def configure_logging(level: str, stream: TextIO = sys.stdout, *, cache: bool = True) -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    structlog.configure(
        processors=[*shared, _TRACEBACKS, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.WriteLoggerFactory(stream),
        # Cached loggers ignore later reconfiguration, which short-lived commands and tests rely on.
        cache_logger_on_first_use=cache,
    )
    # aiohttp and asyncio report through the standard library: give them the same JSON lines.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _TRACEBACKS,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
