#!/usr/bin/env bash
# Checks the deployment kit on this machine without installing it: `nginx -t` on the site (with a throw-away
# self-signed certificate in a temporary folder) and `systemd-analyze verify` on the units (paths pointed at
# this checkout). Nothing is started and nothing outside the temporary folder is written.
# With --live it also runs the site for a moment as deployed, on free loopback ports: gunicorn (production mode,
# FLASK_PROXY_FIX=1, trusted hosts) behind nginx with the site's own configuration, and checks what a browser
# gets: the HTTPS redirect, HTTP/2, gzip, static caching, HSTS through the proxy, 413 and 400 refusals, the security
# headers on nginx's own answers (static files, 404, 413, 502) and no server version. Then it stops gunicorn, asks
# for journey URLs with tokens and queries, and checks that no nginx log holds any of them.
# --env FILE takes FLASK_PROXY_FIX from that settings file (on a server: /etc/fbss-journey.env) instead of the kit's
# example, so the live check fails when the real settings would leave the app blind to nginx's X-Forwarded-For;
# when its FLASK_DATABASE_URL reaches PostgreSQL over TCP, the timers must have the kit's network drop-in (on a
# server running systemd: checked on the installed units, which fail without it).
set -euo pipefail
LIVE=0
ENV_FILE=
while [ $# -gt 0 ]; do
  case "$1" in
    --live) LIVE=1 ;;
    --env) ENV_FILE=$2; shift ;;
    *) echo "usage: $0 [--live] [--env FILE]" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$ENV_FILE" ] && [ "${ENV_FILE#/}" = "$ENV_FILE" ] && ENV_FILE="$(pwd)/$ENV_FILE"
cd "$(dirname "$0")/.."
ENV_FILE=${ENV_FILE:-deploy/fbss-journey.env.example}
HERE=$(pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
status=0

if command -v nginx >/dev/null; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=clinic.example.org" \
    -keyout "$WORK/privkey.pem" -out "$WORK/fullchain.pem" 2>/dev/null
  # The site's log folder as deploy/fbss-journey-nginx.tmpfiles makes it (its mode), here under $WORK/logs.
  LOG_DIR=$(awk '$1 == "d" && $2 ~ "^/var/log/nginx/" {print $2}' deploy/fbss-journey-nginx.tmpfiles)
  LOG_MODE=$(awk '$1 == "d" && $2 ~ "^/var/log/nginx/" {print $3}' deploy/fbss-journey-nginx.tmpfiles)
  mkdir -p "$WORK/logs"
  install -d -m "$LOG_MODE" "$WORK/logs/${LOG_DIR#/var/log/nginx/}"
  sed -e "s#/etc/letsencrypt/live/clinic.example.org#$WORK#g" -e "s#/srv/fbss-journey#$HERE#g" \
      -e "s#/var/log/nginx#$WORK/logs#g" deploy/nginx-fbss-journey.conf > "$WORK/site.conf"
  cat > "$WORK/nginx.conf" <<CONF
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log;
events {}
http {
    include /etc/nginx/mime.types;
    client_body_temp_path $WORK/body;
    proxy_temp_path $WORK/proxy;
    fastcgi_temp_path $WORK/fastcgi;
    uwsgi_temp_path $WORK/uwsgi;
    scgi_temp_path $WORK/scgi;
    include $WORK/site.conf;
}
CONF
  if nginx -t -q -c "$WORK/nginx.conf" -p "$WORK" 2>&1; then echo "nginx -t: ok"; else echo "nginx -t: FAILED"; status=1; fi
else
  echo "nginx not installed: apt-get install nginx-light (or nginx) to check the site" >&2; status=1
fi

# The body limit of /request follows FLASK_UPLOADS (README "Reports attached to a request"): 31m with uploads on,
# 128k without. ENV_FILE is the site's environment file (default: the example in deploy/).
ENV_FILE=${ENV_FILE:-deploy/fbss-journey.env.example}
uploads=$(sed -n 's/^FLASK_UPLOADS=//p' "$ENV_FILE" 2>/dev/null | tail -1 | tr '[:upper:]' '[:lower:]')
request_limit=$(awk '/location = \/request /{inside=1} inside && /client_max_body_size/{gsub(";", "", $2); print $2; exit}' \
  deploy/nginx-fbss-journey.conf)
es_request_limit=$(awk '/location = \/es\/request /{inside=1} inside && /client_max_body_size/{gsub(";", "", $2); print $2; exit}' \
  deploy/nginx-fbss-journey.conf)
case "$uploads" in true|1|yes|on) wanted=31m ;; *) wanted=128k ;; esac
if [ "$es_request_limit" != "$request_limit" ]; then
  echo "nginx body limit for /es/request (${es_request_limit:-missing}) differs from /request's ($request_limit): FAILED"
  status=1
fi
if [ "$request_limit" = "$wanted" ]; then
  echo "nginx body limit for /request ($request_limit) follows FLASK_UPLOADS (${uploads:-unset} in $ENV_FILE): ok"
else
  echo "nginx body limit for /request is ${request_limit:-missing}, but FLASK_UPLOADS=${uploads:-unset} in $ENV_FILE needs $wanted: FAILED"
  status=1
fi

# Units with PrivateNetwork=yes cannot reach a database over TCP: the kit's drop-in (PrivateNetwork=no) must name
# every one of them on its "# For:" line, so a new timer is not left out of it.
NETWORK_DROPIN=deploy/fbss-journey-timers-network.conf
DROPIN_UNITS=$(sed -n 's/^# For: *//p' "$NETWORK_DROPIN")
for unit in $(grep -l '^PrivateNetwork=yes' deploy/*.service); do
  if printf '%s\n' $DROPIN_UNITS | grep -qxF "$(basename "$unit")"; then
    echo "$(basename "$unit") (PrivateNetwork=yes) is named by $NETWORK_DROPIN: ok"
  else
    echo "$(basename "$unit") has PrivateNetwork=yes but $NETWORK_DROPIN does not name it: FAILED"; status=1
  fi
done

if command -v systemd-analyze >/dev/null; then
  mkdir -p "$WORK/units"
  for unit in deploy/*.service deploy/*.timer; do
    sed -e "s#/srv/fbss-journey#$HERE#g" -e "s#^User=fbss#User=root#" -e "s#^Group=fbss#Group=root#" \
        -e "s#^EnvironmentFile=/#EnvironmentFile=-/#" "$unit" > "$WORK/units/$(basename "$unit")"
  done
  # Unknown or misspelt settings are only warnings to systemd: any message at all counts as a failure here.
  if out=$(cd "$WORK/units" && systemd-analyze verify --man=no ./*.service ./*.timer 2>&1) && [ -z "$out" ]; then
    echo "systemd-analyze verify: ok"
  else
    echo "$out"; echo "systemd-analyze verify: FAILED"; status=1
  fi
  # Again with the drop-in installed beside the units it names (systemd reads drop-ins from its unit path).
  mkdir -p "$WORK/units-dropin"
  cp "$WORK"/units/* "$WORK/units-dropin/"
  for name in $DROPIN_UNITS; do
    mkdir -p "$WORK/units-dropin/$name.d"
    cp "$NETWORK_DROPIN" "$WORK/units-dropin/$name.d/network.conf"
  done
  if out=$(cd "$WORK/units-dropin" && SYSTEMD_UNIT_PATH="$WORK/units-dropin:" \
             systemd-analyze verify --man=no ./*.service ./*.timer 2>&1) && [ -z "$out" ]; then
    echo "systemd-analyze verify with $NETWORK_DROPIN: ok"
  else
    echo "$out"; echo "systemd-analyze verify with $NETWORK_DROPIN: FAILED"; status=1
  fi
else
  echo "systemd-analyze not available here: units not verified" >&2
fi

# The host FLASK_DATABASE_URL (in ENV_FILE) reaches over TCP; nothing for SQLite or a Unix socket (no host, or a
# folder: host=/var/run/postgresql, %2Fvar%2Frun%2Fpostgresql).
tcp_database_host() {
  local url=$1 rest netloc host query=
  case "$url" in postgres://*|postgresql://*|postgresql+*://*) ;; *) return 0 ;; esac
  rest=${url#*://}; netloc=${rest%%[/?]*}; netloc=${netloc##*@}
  case "$netloc" in \[*) host=${netloc%%]*}] ;; *) host=${netloc%%:*} ;; esac
  case "$url" in *\?*) query=${url#*\?} ;; esac
  if [[ "&$query" =~ \&host=([^&]*) ]]; then host=${BASH_REMATCH[1]}; fi
  host=$(printf '%b' "${host//%/\\x}")
  case "$host" in ""|/*) ;; *) echo "$host" ;; esac
}
DATABASE_URL=$(sed -n 's/^FLASK_DATABASE_URL=//p' "$ENV_FILE" 2>/dev/null | tail -1 | tr -d "\"'")
DATABASE_HOST=$(tcp_database_host "$DATABASE_URL")
if [ -n "$DATABASE_HOST" ]; then
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then  # on a server: the units as installed
    for name in $DROPIN_UNITS; do
      if [ "$(systemctl show -p LoadState --value "$name")" != loaded ]; then
        echo "$name is not installed here: not checked"
      elif [ "$(systemctl show -p PrivateNetwork --value "$name")" = yes ]; then
        echo "$name cannot reach the database at $DATABASE_HOST (PrivateNetwork=yes): FAILED (install $NETWORK_DROPIN, docs/deploy.md)"
        status=1
      else
        echo "$name: the timers' PrivateNetwork=no drop-in: ok"
      fi
    done
  else
    echo "FLASK_DATABASE_URL reaches $DATABASE_HOST over TCP: on the server, install $NETWORK_DROPIN for $DROPIN_UNITS"
  fi
fi
if [ "$LIVE" = 1 ] && [ "$status" = 0 ]; then
  PY=${PY:-.venv/bin/python}
  free_port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
  APP_PORT=$(free_port); HTTP_PORT=$(free_port); TLS_PORT=$(free_port)
  NAME=clinic.example.org
  chmod 755 "$WORK"
  sed -i -e "s#127.0.0.1:8000#127.0.0.1:$APP_PORT#" -e "s#listen 443 ssl http2;#listen 127.0.0.1:$TLS_PORT ssl http2;#" \
      -e "s#listen 80;#listen 127.0.0.1:$HTTP_PORT;#" -e '/listen \[::\]/d' "$WORK/site.conf"
  sed -i -e "1i user root;" -e "s#^events {}#events {}\ndaemon off;#" "$WORK/nginx.conf"
  PROXY_FIX=$(sed -n 's/^FLASK_PROXY_FIX=//p' "$ENV_FILE" | tail -n 1)
  SECRET=$($PY -c 'import secrets; print(secrets.token_hex(32))')
  # The schema first, as the systemd unit's ExecStartPre does: the app never makes it, and gunicorn refuses without.
  FLASK_PRODUCTION=1 FLASK_SECRET_KEY=$SECRET FLASK_DATABASE="$WORK/clinic.sqlite3" \
    $PY -m flask --app app db upgrade >"$WORK/upgrade.log" 2>&1 || { cat "$WORK/upgrade.log"; exit 1; }
  FLASK_PRODUCTION=1 FLASK_SECRET_KEY=$SECRET FLASK_PROXY_FIX=${PROXY_FIX:-0} \
    FLASK_TRUSTED_HOSTS=$NAME FLASK_BASE_URL=https://$NAME FLASK_DATABASE="$WORK/clinic.sqlite3" \
    $PY -m gunicorn --config gunicorn.conf.py --bind "127.0.0.1:$APP_PORT" --no-control-socket >"$WORK/gunicorn.log" 2>&1 &
  GUNICORN=$!
  nginx -c "$WORK/nginx.conf" -p "$WORK" &
  NGINX=$!
  trap 'kill $GUNICORN $NGINX 2>/dev/null || true; wait $GUNICORN $NGINX 2>/dev/null || true; rm -rf "$WORK"' EXIT
  CURL=(curl -sk --resolve "$NAME:$TLS_PORT:127.0.0.1" --resolve "$NAME:$HTTP_PORT:127.0.0.1")
  for _ in $(seq 150); do "${CURL[@]}" -f -o /dev/null "https://$NAME:$TLS_PORT/healthz" && break; sleep 0.1; done
  check() {  # check DESCRIPTION COMMAND... : the command's output must match the last argument (a grep -E pattern)
    local what=$1 pattern=${*: -1}; shift
    if "${@:1:$#-1}" 2>&1 | grep -Eiq "$pattern"; then echo "live: $what: ok"; else echo "live: $what: FAILED"; status=1; fi
  }
  joined() { "$@" | tr '\n' ' '; }  # a command's output on one line, for a pattern that spans its lines
  check "plain HTTP redirects to HTTPS" "${CURL[@]}" -o /dev/null -w '%{http_code} %{redirect_url}' "http://$NAME:$HTTP_PORT/" '^301 https://'
  check "HTTP/2" "${CURL[@]}" --http2 -D - -o /dev/null "https://$NAME:$TLS_PORT/" '^HTTP/2 200'
  check "gzip on pages" "${CURL[@]}" -D - -o /dev/null -H 'Accept-Encoding: gzip' "https://$NAME:$TLS_PORT/" 'content-encoding: gzip'
  check "HSTS through the proxy (X-Forwarded-Proto trusted)" "${CURL[@]}" -D - -o /dev/null "https://$NAME:$TLS_PORT/" 'strict-transport-security: max-age='
  CSS=$("${CURL[@]}" "https://$NAME:$TLS_PORT/" | grep -Eo '/static/site\.css\?v=[0-9a-f]+')
  check "static files cached a year" "${CURL[@]}" -D - -o /dev/null "https://$NAME:$TLS_PORT$CSS" \
    'cache-control: public, max-age=31536000, immutable'
  check "static files gzipped" "${CURL[@]}" -D - -o /dev/null -H 'Accept-Encoding: gzip' "https://$NAME:$TLS_PORT$CSS" \
    'content-encoding: gzip'
  check "healthz" "${CURL[@]}" "https://$NAME:$TLS_PORT/healthz" '"status": ?"ok"'
  check "a 100 KB body gets the app's own friendly 413 page (nginx's limit is above the app's)" joined "${CURL[@]}" \
    -w ' status %{http_code}' --data-binary @<(head -c 100000 /dev/zero | tr '\0' a) "https://$NAME:$TLS_PORT/request" \
    '<title>That was too much text.* status 413$'
  # M2: a flood of journey posts from one address meets nginx's limit_req (429) after its burst of 30.
  check "40 quick journey posts from one address: nginx answers 429 past the burst" joined bash -c \
    'for _ in $(seq 40); do "$@" -o /dev/null -w "%{http_code}\n" -X POST "$0"; done' \
    "https://$NAME:$TLS_PORT/journey/start" "${CURL[@]}" '429'
  # M1: a flood of request posts from one address meets nginx's limit_req (429) after its burst of 10. They carry no
  # CSRF token, so the app answers each one it gets with 400: every 429 is nginx's.
  check "20 quick posts to /request from one address: nginx answers 429 past the burst" joined bash -c \
    'for _ in $(seq 20); do "$@" -o /dev/null -w "%{http_code}\n" --data "name=x" "$0"; done' \
    "https://$NAME:$TLS_PORT/request" "${CURL[@]}" '429'
  "${CURL[@]}" -o /dev/null "https://$NAME:$TLS_PORT/request"
  sleep 0.2
  # L7: the lines about the request form keep no client address (the form, its posts, nginx's 429s).
  request_lines=$(grep -rh '/request' "$WORK/logs" || true)
  if [ -n "$request_lines" ] && grep -q '"POST /request"' <<<"$request_lines" && ! grep -q '127\.0\.0\.1' <<<"$request_lines"; then
    echo "live: no client address beside /request in nginx's logs: ok"
  else echo "live: no client address beside /request in nginx's logs: FAILED"; head -3 <<<"$request_lines"; status=1; fi
  outside=$(grep -Eo '/var/log/nginx/[^ ;]+' deploy/nginx-fbss-journey.conf | grep -v "^$LOG_DIR/" || true)
  if [ "$(stat -c %a "$WORK/logs/${LOG_DIR#/var/log/nginx/}")" = 750 ] && [ -z "$outside" ] \
      && grep -q "^$LOG_DIR/\*\.log" deploy/fbss-journey-nginx.logrotate; then
    echo "live: nginx's log folder is 0750, holds every log of the site and is rotated: ok"
  else echo "live: nginx's log folder is 0750, holds every log of the site and is rotated: FAILED (${outside:-mode})"; status=1; fi
  # L4: the app must read the client address nginx forwards, or every patient and nurse is 127.0.0.1 to it.
  if grep -q 'FLASK_PROXY_FIX is off' "$WORK/gunicorn.log"; then
    echo "live: the app reads the client address nginx forwards (FLASK_PROXY_FIX): FAILED (set FLASK_PROXY_FIX=1 in $ENV_FILE)"
    grep -m1 'FLASK_PROXY_FIX is off' "$WORK/gunicorn.log"; status=1
  else echo "live: the app reads the client address nginx forwards (FLASK_PROXY_FIX): ok"; fi
  check "unknown Host header refused" "${CURL[@]}" -o /dev/null -w '%{http_code}' -H 'Host: attacker.example' \
    "https://$NAME:$TLS_PORT/" '^(400|421)$'
  # The headers the app sends on every response must also be on what nginx answers by itself (static files,
  # its own error pages), exactly once each, and nginx must not say its version.
  headers_ok() {  # headers_ok DESCRIPTION CURL-ARGUMENTS... : the response headers of that request
    local what=$1 out missing=()
    shift
    out=$("${CURL[@]}" -s -D - -o /dev/null "$@" 2>&1 | tr -d '\r')
    for wanted in "content-security-policy: default-src 'self'.*frame-ancestors 'none'" 'x-content-type-options: nosniff' \
        'x-frame-options: DENY' 'referrer-policy: strict-origin-when-cross-origin' 'permissions-policy: camera=\(\)' \
        'cross-origin-opener-policy: same-origin' 'strict-transport-security: max-age=' '^server: nginx$'; do
      grep -Eiq "^${wanted#^}" <<<"$out" || missing+=("$wanted")
    done
    local doubled
    doubled=$(grep -Eio '^(content-security-policy|x-content-type-options|x-frame-options|referrer-policy|strict-transport-security):' \
      <<<"$out" | tr 'A-Z' 'a-z' | sort | uniq -d || true)
    if [ ${#missing[@]} = 0 ] && [ -z "$doubled" ]; then echo "live: security headers on $what: ok"
    else echo "live: security headers on $what: FAILED (missing: ${missing[*]:-none}; twice: ${doubled:-none})"; status=1; fi
  }
  headers_ok "a page from the app" "https://$NAME:$TLS_PORT/"
  headers_ok "static files" "https://$NAME:$TLS_PORT$CSS"
  headers_ok "nginx's own 404 for a static file" "https://$NAME:$TLS_PORT/static/no-such-file.css"
  headers_ok "nginx's own 413 (a body over its limit)" --data-binary @<(head -c 1000000 /dev/zero | tr '\0' a) "https://$NAME:$TLS_PORT/request"
  check "plain HTTP does not name nginx's version" "${CURL[@]}" -D - -o /dev/null "http://$NAME:$HTTP_PORT/" '^server: nginx\s*$'

  # L5: with gunicorn stopped, nginx writes errors for every proxied request. None of its logs may hold a journey
  # URL, a continue-later token or a query string, while a failed /healthz (what a monitor calls) is still logged.
  kill "$GUNICORN"; wait "$GUNICORN" 2>/dev/null || true
  TOKEN=tok-$($PY -c 'import secrets; print(secrets.token_hex(12))')
  CANARY=canary-$($PY -c 'import secrets; print(secrets.token_hex(6))')
  for url in "https://$NAME:$TLS_PORT/journey/continue/$TOKEN" "https://$NAME:$TLS_PORT/journey/urgent?symptom=$CANARY" \
      "https://$NAME:$TLS_PORT/journey/hardware" "http://$NAME:$HTTP_PORT/journey/continue/$TOKEN?$CANARY" \
      "https://$NAME:$TLS_PORT/request?$CANARY" "https://$NAME:$TLS_PORT/healthz"; do
    "${CURL[@]}" -o /dev/null "$url" || true
  done
  "${CURL[@]}" -o /dev/null --data "token=$TOKEN" "https://$NAME:$TLS_PORT/journey/continue/$TOKEN" || true
  headers_ok "nginx's own 502 page (gunicorn stopped)" "https://$NAME:$TLS_PORT/journey/continue/$TOKEN"
  check "nginx's own 502 page is ours" joined "${CURL[@]}" -w ' status %{http_code}' "https://$NAME:$TLS_PORT/" \
    'try again in a few minutes.* status 502$'
  sleep 0.2  # nginx writes its logs as it goes; give the last lines a moment
  leaked=$(grep -rlE "$TOKEN|$CANARY|/journey/[^-]" "$WORK/logs" || true)
  if [ -z "$leaked" ]; then echo "live: no journey URL, token or query in any nginx log with gunicorn stopped: ok"
  else echo "live: no journey URL, token or query in any nginx log with gunicorn stopped: FAILED ($leaked)"
       grep -rhE "$TOKEN|$CANARY|/journey/[^-]" "$WORK/logs" | head -5; status=1; fi
  check "a failed /healthz is still in nginx's error log" cat "$WORK/logs/fbss-journey/error.log" 'connect\(\) failed.*"GET /healthz'
fi
exit $status
