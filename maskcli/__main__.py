"""`python -m maskcli` and the `maskcli` command."""

from maskcli.runner import catch_signals


def main() -> None:
    catch_signals()  # first: a signal during start-up then ends the run quietly, with 128 + its number
    from maskcli.cli import main as cli_main

    cli_main(prog_name="maskcli")


if __name__ == "__main__":
    main()
