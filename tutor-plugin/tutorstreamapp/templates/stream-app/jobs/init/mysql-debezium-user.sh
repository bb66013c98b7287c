{% if STREAM_APP_DEBEZIUM_REGISTER -%}
# stream-app: the MySQL user Debezium reads the LMS's binlog with (runs in Tutor's mysql job, as root).
echo "stream-app: waiting for MySQL at {{ MYSQL_HOST }}:{{ MYSQL_PORT }}..."
attempt=0
until mysql -u "{{ MYSQL_ROOT_USERNAME }}" --password="{{ MYSQL_ROOT_PASSWORD }}" --host "{{ MYSQL_HOST }}" --port {{ MYSQL_PORT }} -e 'exit'
do
    attempt=$(expr $attempt + 1)
    if [ $attempt -ge 30 ]; then echo "stream-app: MySQL did not answer" 1>&2; exit 1; fi
    sleep 10
done
echo "stream-app: creating the Debezium user {{ STREAM_APP_DEBEZIUM_MYSQL_USERNAME }} with its grants"
mysql -u "{{ MYSQL_ROOT_USERNAME }}" --password="{{ MYSQL_ROOT_PASSWORD }}" --host "{{ MYSQL_HOST }}" --port {{ MYSQL_PORT }} -e "
CREATE USER IF NOT EXISTS '{{ STREAM_APP_DEBEZIUM_MYSQL_USERNAME }}'@'%' IDENTIFIED BY '{{ STREAM_APP_DEBEZIUM_MYSQL_PASSWORD }}';
ALTER USER '{{ STREAM_APP_DEBEZIUM_MYSQL_USERNAME }}'@'%' IDENTIFIED BY '{{ STREAM_APP_DEBEZIUM_MYSQL_PASSWORD }}';
GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '{{ STREAM_APP_DEBEZIUM_MYSQL_USERNAME }}'@'%';
FLUSH PRIVILEGES;"
{%- else -%}
echo "stream-app: STREAM_APP_DEBEZIUM_REGISTER is off: no Debezium MySQL user"
{%- endif %}
