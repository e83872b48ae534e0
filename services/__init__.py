"""The four services, the runtime they share, privacy and the ``aiops`` CLI."""

__all__: list[str] = []
