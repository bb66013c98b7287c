"""`python -m stream_app ...` runs the `stream-app` command group."""

from stream_app.cli.main import main

main()
