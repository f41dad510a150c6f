"""Logging: one pipeline for our loggers, uvicorn's and every other library's.

Everything goes through the standard library's ``logging``: records from
structlog loggers (``get_logger``) and plain ``logging`` records alike are
rendered by one structlog ``ProcessorFormatter`` — a JSON object per line
(``log_format="json"``) or readable lines for humans (``"console"``). Each
line carries the request id of the request it was written for.

``logging_config`` is a ``dictConfig`` dict rather than code, so uvicorn can
apply it itself in every worker process (``leadbase serve --workers N``).
"""

from __future__ import annotations

import logging
import logging.config
import sys
from typing import IO, Any, Literal, cast

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from leadbase import context

LogFormat = Literal["json", "console"]


def _add_request_id(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """The id of the request being served, for lines written while serving it."""
    if "request_id" not in event_dict:
        request_id = context.current().request_id
        if request_id is not None:
            event_dict["request_id"] = request_id
    return event_dict


def _drop_color_message(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    # uvicorn passes an ANSI-coloured copy of its message as an `extra`.
    event_dict.pop("color_message", None)
    return event_dict


_SHARED: list[Processor] = [
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    _add_request_id,
]


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger writing through ``logging.getLogger(name)``.

    Its processors are set here, not by ``structlog.configure``, so it behaves
    the same in every process whether or not anything configured structlog.
    """
    processors: list[Processor] = [
        structlog.stdlib.filter_by_level,  # skip the work for disabled levels
        *_SHARED,
        structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
    ]
    logger = structlog.wrap_logger(
        logging.getLogger(name),
        processors=processors,
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    return cast(structlog.stdlib.BoundLogger, logger)


def formatter(log_format: LogFormat = "json") -> structlog.stdlib.ProcessorFormatter:
    """The formatter every handler uses; ``dictConfig`` calls it by name."""
    renderer: list[Processor]
    if log_format == "json":
        renderer = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        # No locals in tracebacks: they hold passwords and tokens as often as not.
        tty = sys.stderr.isatty()
        tracebacks: structlog.typing.ExceptionRenderer = (
            structlog.dev.RichTracebackFormatter(show_locals=False)
            if tty
            else structlog.dev.plain_traceback
        )
        renderer = [structlog.dev.ConsoleRenderer(colors=tty, exception_formatter=tracebacks)]
    return structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
        foreign_pre_chain=[*_SHARED, structlog.stdlib.ExtraAdder(), _drop_color_message],
    )


def logging_config(
    level: str = "INFO", log_format: LogFormat = "json", stream: IO[str] | str | None = None
) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict: one stderr handler on the root logger.

    uvicorn's loggers lose their own handlers and propagate to the root, so
    its lines are rendered like ours. Its access log stays off: the request
    log of ``leadbase.http.ops`` says more (route, request id, actor).
    """
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"leadbase": {"()": f"{__name__}.formatter", "log_format": log_format}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "leadbase",
                "stream": stream or "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            **{
                name: {"handlers": [], "level": level, "propagate": True}
                for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
            },
            # Alembic says "Context impl SQLiteImpl." each time /ready reads
            # the schema revision: every few seconds under a load balancer.
            "alembic.runtime.migration": {"level": max(level, "WARNING", key=_level_number)},
        },
    }


def _level_number(name: str) -> int:
    return logging.getLevelNamesMapping()[name]


def configure(
    level: str = "INFO", log_format: LogFormat = "json", stream: IO[str] | None = None
) -> None:
    """Configure this process's logging (``leadbase serve`` and other commands)."""
    logging.config.dictConfig(logging_config(level, log_format, stream))
