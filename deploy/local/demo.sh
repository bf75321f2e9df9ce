#!/usr/bin/env bash
# A fully local demo: the fake Telegram Bot API server, a file credentials source with one demo
# bot, the topics, and a worker in the foreground. In another terminal:
#   .venv/bin/actionstream publish --bot demo-bot --integration telegram_send_message \
#       --config '{"chat_id": 42, "text": "hello"}' --wait
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
demo_dir="$repo/.local/demo"
fake_port=${FAKE_TELEGRAM_PORT:-8081}
mkdir -p "$demo_dir"

cat >"$demo_dir/credentials.json" <<JSON
{"demo-bot": {"telegram": {"api_key": {"token": "123456:DEMO-demo-token-not-a-real-one-xxxxxx"}}}}
JSON

"$repo/.venv/bin/python" -m integrations.telegram.testing --port "$fake_port" \
    >"$demo_dir/fake-telegram.log" 2>&1 &
fake_pid=$!
trap 'kill "$fake_pid" 2>/dev/null || true' EXIT
echo "fake Telegram Bot API on http://127.0.0.1:$fake_port (log: $demo_dir/fake-telegram.log)"

export ACTIONSTREAM_DEV_MODE=true
export ACTIONSTREAM_TELEGRAM__BASE_URL="http://127.0.0.1:$fake_port/bot"
export ACTIONSTREAM_TELEGRAM__BASE_FILE_URL="http://127.0.0.1:$fake_port/file/bot"
export ACTIONSTREAM_CREDENTIALS__SOURCE=file
export ACTIONSTREAM_CREDENTIALS__FILE_PATH="$demo_dir/credentials.json"

"$repo/.venv/bin/actionstream" topics apply
"$repo/.venv/bin/actionstream" worker
