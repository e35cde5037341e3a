"""Who is calling: the identity every handler authorises against."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    """An authenticated user. Admins see and manage every user's objects."""

    name: str
    admin: bool = False

    def can_see(self, owner: str) -> bool:
        return self.admin or owner == self.name
