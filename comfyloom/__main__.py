"""`python -m comfyloom`: the `comfyloom` command, for when the venv's scripts are not on PATH."""

from comfyloom.dev.cli import main

main()
