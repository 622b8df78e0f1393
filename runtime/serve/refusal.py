"""A request the API refuses: its 4xx status and what was wrong, answered as ``{"error": ...}``."""

from __future__ import annotations


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message
