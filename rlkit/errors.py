"""The one exception type the kit raises for problems a user can fix."""


class RlkitError(ValueError):
    """A problem with the user's input or environment; the message says what to change."""
