#!/usr/bin/env bash
# Make sure the machine's PostgreSQL and RabbitMQ are up (they normally are; start them if not).
set -uo pipefail
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
if command -v rabbitmqctl >/dev/null && ! rabbitmqctl -q status >/dev/null 2>&1; then
  echo "starting RabbitMQ" >&2
  rabbitmq-server -detached || true
  rabbitmqctl -q wait --timeout 60 "/var/lib/rabbitmq/mnesia/rabbit@$(hostname -s).pid" >/dev/null 2>&1 || sleep 10
fi
exit 0
