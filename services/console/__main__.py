import sys

from services.console import ConsoleSettings, run_console
from services.runtime import load_or_exit


def main() -> None:
    settings = load_or_exit(
        ConsoleSettings,
        sys.argv[1:],
        "python -m services.console",
        "The web console: analyses and incidents, live, with their charts, stats and feedback.",
    )
    run_console(settings)


if __name__ == "__main__":
    main()
