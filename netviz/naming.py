"""Names that MLflow accepts (kept free of heavy imports: tracking uses it before torch loads)."""

import re


def safe_name(text: str) -> str:
    """``text`` with every character MLflow refuses in a metric or artifact name replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9_.\- ]", "_", text)
