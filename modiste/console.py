"""What every capability's command line shares: options the user left unset stay unset."""
from __future__ import annotations

from typing import Any


def given(**options: Any) -> dict[str, Any]:
    """Only the options the user set, so the API's defaults (and a resumed run's saved settings) apply."""
    return {k: v for k, v in options.items() if v is not None}
