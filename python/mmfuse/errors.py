"""Exceptions: one class per mmf_status, each carrying the library's message."""


class Error(Exception):
    """Base of every mmfuse failure; ``str(e)`` is mmf_last_error() (file, field, what was expected)."""

    status = -1

    def __init__(self, message: str, status: int = -1):
        super().__init__(message)
        self.message = message
        if status >= 0:
            self.status = status


class ArgumentError(Error, ValueError):
    """A bad argument (MMF_ERR_ARG), also raised by the binding for wrong types and shapes."""
    status = 1


class FileIOError(Error, OSError):
    """Opening, reading or writing a file failed (MMF_ERR_IO)."""
    status = 2


class FormatError(Error):
    """A file is malformed (MMF_ERR_FORMAT)."""
    status = 3


class ShapeError(Error, ValueError):
    """Shapes or dimensions disagree (MMF_ERR_SHAPE)."""
    status = 4


class UnsupportedError(Error):
    """Well formed but not handled, e.g. bf16 on a CPU without AVX512-BF16 (MMF_ERR_UNSUPPORTED)."""
    status = 5


class OutOfMemoryError(Error, MemoryError):
    """Allocation failed or a size budget was exceeded (MMF_ERR_NOMEM)."""
    status = 6


class NumericError(Error, ArithmeticError):
    """NaN/Inf or another numerical failure (MMF_ERR_NUMERIC)."""
    status = 7


class NotFoundError(Error, LookupError):
    """A named tensor, field, id or file is absent (MMF_ERR_NOT_FOUND)."""
    status = 8


BY_STATUS = {c.status: c for c in (ArgumentError, FileIOError, FormatError, ShapeError, UnsupportedError,
                                   OutOfMemoryError, NumericError, NotFoundError)}
