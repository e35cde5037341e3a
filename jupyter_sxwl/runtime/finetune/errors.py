"""The one error a user can cause, which the command line turns into ``error: …`` and exit 2."""

from __future__ import annotations


class FinetuneError(Exception):
    """Something the user can fix: bad data, a missing file, a method this machine cannot run.

    The message is one line that says what was wrong and how to fix it.
    """
