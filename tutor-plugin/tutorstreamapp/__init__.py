"""tutor-contrib-stream-app: the Tutor plugin that installs stream_app beside a Tutor-managed Open edX."""
