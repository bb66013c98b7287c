# stream-app: create the topics of topics.yaml (and each router's retry topics) with the configured
# partitions ({{ STREAM_APP_PARTITIONS }}) and replication ({{ STREAM_APP_REPLICATION_FACTOR }}); existing topics are left alone.
stream-app topics create --timeout 300
