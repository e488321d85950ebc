"""`python -m cli`: the `comfyloom` command, for when the venv's scripts are not on PATH."""

from cli.main import main

main()
