from maskcli.cli import main

main(prog_name="maskcli")
