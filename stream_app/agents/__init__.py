"""Faust agents, one module per concern; `stream_app.worker` imports them in an explicit list.

Each agent has exactly one error boundary: a record it cannot handle goes to
the dead-letter topic with the stage and reason, and the agent goes on.
"""
