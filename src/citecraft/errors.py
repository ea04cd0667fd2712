"""A small hierarchy of errors that carry a one-line message for the user.

Exit codes: 0 success, 1 unexpected error, 2 bad input or usage (nothing done),
3 index problem (locked, incompatible, damaged), 4 model backend failure,
5 prompt file problem, 6 partial success (some input records were rejected).
"""

from __future__ import annotations


class CitecraftError(Exception):
    """Base error: its message is shown to the user as one line."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InputError(CitecraftError):
    """A file or record could not be read; `file` and `line` say where, when known."""

    exit_code = 2

    def __init__(
        self, message: str, hint: str | None = None, file: str | None = None, line: int | None = None
    ):
        super().__init__(message, hint)
        self.file = file
        self.line = line


class IndexError_(CitecraftError):
    """The index is missing, locked or incompatible."""

    exit_code = 3


class IndexLockedError(IndexError_):
    """Another process is writing the same index."""


class IndexMismatchError(IndexError_):
    """The index was built with other embedder or chunking settings."""


class ModelError(CitecraftError):
    """An LLM or embedding backend failed."""

    exit_code = 4


class PromptError(CitecraftError):
    """A prompt file is missing or its variables do not match."""

    exit_code = 5


class ConfigError(CitecraftError):
    """Settings are inconsistent or incomplete."""

    exit_code = 2


EXIT_PARTIAL = 6
