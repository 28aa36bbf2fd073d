"""User-facing errors: the CLI prints their message on one line and exits with code 2."""


class CohesiveError(Exception):
    """A mistake in the user's input or environment (not a bug): reported without a traceback."""


class DataError(CohesiveError):
    """Missing or malformed data files."""


class WordNetMissingError(CohesiveError):
    """No usable WordNet 3.0 copy could be found."""
