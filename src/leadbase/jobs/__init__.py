"""Background jobs: a ``jobs`` table as the durable record, two runners.

- ``service.enqueue(uow, kind, payload)`` in the caller's transaction; the
  runner hears of the job after the commit.
- ``registry.handler(kind)`` registers what runs for a kind.
- ``local``: threads in ``leadbase serve`` / ``leadbase worker`` (default);
  ``celery_app``: Celery on Redis (``LEADBASE_QUEUE=celery``).
"""
