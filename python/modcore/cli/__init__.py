"""The ``modcore`` command: the parser and one module per subcommand."""
