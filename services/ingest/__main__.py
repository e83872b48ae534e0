import sys

from services.ingest import IngestSettings, run_ingest
from services.runtime import load_or_exit


def main() -> None:
    settings = load_or_exit(
        IngestSettings,
        sys.argv[1:],
        "python -m services.ingest",
        "Receives Alertmanager webhooks and manual alerts; stores one message per alert on alerts.raw.",
    )
    run_ingest(settings)


if __name__ == "__main__":
    main()
