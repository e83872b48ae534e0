"""The one error of the benchmark adapters."""


class Unmappable(ValueError):
    """An input part that cannot become evidence: skipped and counted, never fatal."""
