from maskcli.runner import catch_signals

catch_signals()  # first: a signal during start-up then ends the run quietly, with 128 + its number

from maskcli.cli import main  # noqa: E402

main(prog_name="maskcli")
