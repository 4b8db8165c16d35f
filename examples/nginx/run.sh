#!/usr/bin/env bash
# Run examples/nginx/nginx.conf locally: nginx in front of `authsvc demo` (a built-in development
# identity provider that signs in anyone) and a tiny app (python's http.server).
#
#     examples/nginx/run.sh            then open http://127.0.0.1:8080/
#
# Needs: nginx and libnginx-mod-http-set-misc (apt-get install nginx libnginx-mod-http-set-misc),
# and authsvc installed (pip install -e .). Ports: LISTEN_PORT (8080), AUTHSVC_PORT (4180),
# APP_PORT (9000). Ctrl-C stops everything.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
listen_port="${LISTEN_PORT:-8080}"
authsvc_port="${AUTHSVC_PORT:-4180}"
app_port="${APP_PORT:-9000}"
python="${PYTHON:-python3}"
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

mkdir -p "$work/tmp" "$work/app"
echo "<h1>The protected app</h1><p>You are signed in. Try /oauth2/userinfo and /oauth2/sign_out.</p>" \
  > "$work/app/index.html"

# fill the placeholders of the very file the integration tests run
sed -e "s/{{LISTEN}}/127.0.0.1:${listen_port}/" \
    -e "s/{{AUTHSVC}}/127.0.0.1:${authsvc_port}/" \
    -e "s/{{UPSTREAM}}/127.0.0.1:${app_port}/" \
    "$here/nginx.conf" > "$work/nginx.conf"

"$python" -m authsvc demo --host 127.0.0.1 --port "$authsvc_port" &
pids+=($!)
"$python" -m http.server "$app_port" --bind 127.0.0.1 --directory "$work/app" >/dev/null 2>&1 &
pids+=($!)

# wait (bounded) until authsvc answers, so the first page load does not meet a 502
"$python" - "$authsvc_port" <<'PY'
import sys, time, urllib.request
deadline = time.monotonic() + 30
while True:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/ping", timeout=1)
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("authsvc demo did not start")
        time.sleep(0.1)
PY

"$nginx_bin" -t -q -p "$work/" -c "$work/nginx.conf"
echo "nginx on http://127.0.0.1:${listen_port}/ (authsvc demo on :${authsvc_port}, app on :${app_port})"
"$nginx_bin" -p "$work/" -c "$work/nginx.conf" &
pids+=($!)
wait -n "${pids[@]}"
