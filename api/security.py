"""Write protection: with ``QA_API_KEY`` set, POST/PUT/DELETE need ``Authorization: Bearer <key>``."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request


def require_write_key(request: Request) -> None:
    key: str | None = request.app.state.settings.api_key
    if not key:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # compare_digest takes constant time whatever the mismatch; the key is never logged.
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), key.encode()):
        raise HTTPException(
            status_code=401,
            detail="this write needs the API key: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
