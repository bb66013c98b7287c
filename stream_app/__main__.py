"""`python -m stream_app ...` runs the `stream-app` command group (`python -m stream_app worker` the Faust worker)."""

from stream_app.cli.main import main

main()
