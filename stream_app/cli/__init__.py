"""The `stream-app` console script: one command group, one module per subcommand."""
