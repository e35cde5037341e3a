"""Share tokens (D5, M4): unguessable, expiring, revocable; only their hash is stored.

A token is shown once, when it is made. Whoever holds it can add the shared dataset to their
list (read-only) or import the shared model. Expiry closes the token to new users; revoking it
also takes access away from those who added a dataset with it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from sqlalchemy import delete, select

from ..store.database import Database
from ..store.models import Grant, Share, utcnow
from .auth import Identity
from .errors import Problem
from .jobs import iso

PREFIX = {"dataset": "sxds_", "model": "sxmd_"}
MAX_DAYS = 365


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def share_out(share: Share) -> dict[str, Any]:
    now = utcnow()
    status = "revoked" if share.revoked_at else ("expired" if share.expires_at <= now else "active")
    return {
        "id": share.id,
        "kind": share.kind,
        "object_id": share.object_id,
        "version": share.version,
        "created_at": iso(share.created_at),
        "expires_at": iso(share.expires_at),
        "revoked_at": iso(share.revoked_at),
        "uses": share.uses,
        "status": status,
    }


class ShareManager:
    """Making, listing, redeeming and revoking share tokens."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        identity: Identity,
        kind: str,
        object_id: str,
        body: dict[str, Any],
        version: int | None = None,
    ) -> dict[str, Any]:
        days = body.get("expires_in_days", 7)
        if type(days) not in (int, float) or not 0 < days <= MAX_DAYS:
            raise Problem.invalid(
                "expires_in_days", f"must be a number of days between 1 and {MAX_DAYS}"
            )
        token = PREFIX[kind] + secrets.token_urlsafe(24)
        share = Share(
            id=f"sh-{secrets.token_hex(6)}",
            kind=kind,
            object_id=object_id,
            version=version,
            owner=identity.name,
            token_hash=token_hash(token),
            expires_at=utcnow() + dt.timedelta(days=float(days)),
        )
        with self.db.session() as session:
            session.add(share)
            session.flush()
            out = share_out(share)
        out["token"] = token  # the only time it is shown
        return out

    def list_for(self, kind: str, object_id: str) -> list[dict[str, Any]]:
        with self.db.session() as session:
            rows = session.scalars(
                select(Share)
                .where(Share.kind == kind, Share.object_id == object_id)
                .order_by(Share.created_at.desc())
            ).all()
            return [share_out(s) for s in rows]

    def redeem(self, token: Any, kind: str) -> Share:
        """The live share a token opens, counting the use; a clear 4xx otherwise."""
        if not isinstance(token, str) or not token.strip():
            raise Problem.invalid("token", "is required: paste the share token you were given")
        token = token.strip()
        other = "model" if kind == "dataset" else "dataset"
        if token.startswith(PREFIX[other]):
            raise Problem.invalid(
                "token", f"this is a {other} share token; use it to add a {other}, not a {kind}"
            )
        with self.db.session() as session:
            share = session.scalar(select(Share).where(Share.token_hash == token_hash(token)))
            if share is None or share.kind != kind:
                raise Problem.invalid(
                    "token",
                    "no share matches this token; check it was copied whole, or ask its owner "
                    "for a new one",
                    404,
                )
            if share.revoked_at is not None:
                raise Problem.invalid(
                    "token", "this share token was revoked by its owner; ask for a new one", 410
                )
            if share.expires_at <= utcnow():
                raise Problem.invalid(
                    "token",
                    f"this share token expired at {iso(share.expires_at)}; ask its owner for a "
                    "new one",
                    410,
                )
            share.uses += 1
            session.flush()
            session.expunge(share)
            return share

    def revoke(self, identity: Identity, share_id: str) -> dict[str, Any]:
        with self.db.session() as session:
            share = session.get(Share, share_id)
            if share is None or not identity.can_see(share.owner):
                raise Problem.not_found(f"share {share_id!r}")
            if share.revoked_at is None:
                share.revoked_at = utcnow()
            session.execute(delete(Grant).where(Grant.share_id == share.id))
            return share_out(share)

    def forget_object(self, session: Any, kind: str, object_id: str) -> None:
        """Drop every share of and grant to a deleted object (inside the caller's session)."""
        session.execute(delete(Share).where(Share.kind == kind, Share.object_id == object_id))
        session.execute(delete(Grant).where(Grant.kind == kind, Grant.object_id == object_id))
