"""sumsim's version (kept with the project's metadata in ``pyproject.toml``): a module of its
own, so that what records it (sweep rows, search folders, the command) needs nothing else."""

__version__ = "0.2.0"
