"""The one exception type that reaches users as a single readable line."""


class EdgedetError(Exception):
    """A problem the user can fix: the CLI prints ``error: <message>`` and exits non-zero.

    Raise it with a message that says what was wrong and what to do; anything else that
    escapes is a bug and keeps its traceback.
    """
