"""leadbase: a self-hosted lead database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["LeadDatabase", "__version__"]

if TYPE_CHECKING:
    from leadbase.client import LeadDatabase


def __getattr__(name: str) -> Any:
    # Lazy: `import leadbase` for the CLI should not pull in the whole store.
    if name == "LeadDatabase":
        from leadbase.client import LeadDatabase

        return LeadDatabase
    raise AttributeError(name)
