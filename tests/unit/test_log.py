"""`crash_site`: the log line of a 500 names where the bug is, never the exception's message."""

from __future__ import annotations

from k3s_daas.log import crash_site


def _inner(secret: str) -> None:
    raise KeyError(secret)


def test_crash_site_names_the_innermost_frame_only() -> None:
    try:
        _inner("seal_" + "ab" * 64)
    except KeyError as exc:
        site = crash_site(exc)
    assert site.startswith("test_log.py:") and site.endswith(" in _inner")
    assert "seal_" not in site
    assert crash_site(KeyError("never raised")) == "?"
