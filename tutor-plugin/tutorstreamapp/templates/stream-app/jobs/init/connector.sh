{% if STREAM_APP_DEBEZIUM_REGISTER -%}
# stream-app: register (or update) the Debezium MySQL connector through Kafka Connect's REST API.
# PUT /connectors/<name>/config creates the connector or replaces its configuration: running it again is harmless.
python - <<'PYTHON'
import json
import sys
import time
import urllib.error
import urllib.request

url = "{{ STREAM_APP_CONNECT_URL }}".rstrip("/") + "/connectors/{{ STREAM_APP_DEBEZIUM_CONNECTOR_NAME }}/config"
with open("/config/mysql-connector.json", encoding="utf-8") as file:
    body = json.dumps(json.load(file)["config"]).encode()
deadline = time.monotonic() + 600
while True:
    request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            print(f"stream-app: connector registered at {url} (HTTP {response.status})")
            break
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        # 409: Connect is rebalancing; 404/5xx while it starts. A 400 is a bad configuration: stop and say why.
        if exc.code == 400 or time.monotonic() > deadline:
            sys.exit(f"stream-app: Kafka Connect refused the connector (HTTP {exc.code}): {detail}")
        print(f"stream-app: Kafka Connect answered HTTP {exc.code}, retrying: {detail[:200]}")
    except (urllib.error.URLError, OSError) as exc:
        if time.monotonic() > deadline:
            sys.exit(f"stream-app: Kafka Connect at {url} did not answer: {exc}")
        print(f"stream-app: waiting for Kafka Connect ({exc})")
    time.sleep(10)
PYTHON
{%- else -%}
echo "stream-app: STREAM_APP_DEBEZIUM_REGISTER is off: no connector registered"
{%- endif %}
