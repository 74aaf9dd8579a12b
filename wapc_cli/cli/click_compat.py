"""Where click's exceptions live: typer >= 0.2x vendors click as ``typer._click``."""

from __future__ import annotations

try:
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer depends on the click package
    from click import exceptions as click_exceptions  # type: ignore[no-redef,import-not-found,unused-ignore]

__all__ = ["click_exceptions"]
