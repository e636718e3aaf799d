"""`python -m probsweep <command> [args]`: the same as the `probsweep` console script."""

from probsweep.cli import main

main()
