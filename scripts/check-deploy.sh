#!/usr/bin/env bash
# Checks the deployment kit on this machine without installing it: `nginx -t` on the site (with a throw-away
# self-signed certificate in a temporary folder) and `systemd-analyze verify` on the units (paths pointed at
# this checkout). Nothing is started and nothing outside the temporary folder is written.
set -euo pipefail
cd "$(dirname "$0")/.."
HERE=$(pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
status=0

if command -v nginx >/dev/null; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=clinic.example.org" \
    -keyout "$WORK/privkey.pem" -out "$WORK/fullchain.pem" 2>/dev/null
  mkdir -p "$WORK/logs"
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

if command -v systemd-analyze >/dev/null; then
  mkdir -p "$WORK/units"
  for unit in deploy/*.service deploy/*.timer; do
    sed -e "s#/srv/fbss-journey#$HERE#g" -e "s#^User=fbss#User=root#" -e "s#^Group=fbss#Group=root#" \
        -e "s#^EnvironmentFile=#EnvironmentFile=-#" "$unit" > "$WORK/units/$(basename "$unit")"
  done
  # Unknown or misspelt settings are only warnings to systemd: any message at all counts as a failure here.
  if out=$(cd "$WORK/units" && systemd-analyze verify --man=no ./*.service ./*.timer 2>&1) && [ -z "$out" ]; then
    echo "systemd-analyze verify: ok"
  else
    echo "$out"; echo "systemd-analyze verify: FAILED"; status=1
  fi
else
  echo "systemd-analyze not available here: units not verified" >&2
fi
exit $status
