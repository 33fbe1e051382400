#!/usr/bin/env bash
# Lighthouse 12.2.3 (mobile) on the start page, a question step and the request page; prints the four scores.
# Serves the app under gunicorn on a free loopback port with a temporary database and the real content/.
# Target: 100 in performance, accessibility, best practices and SEO on each page.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
LIGHTHOUSE=node_modules/.bin/lighthouse
export CHROME_PATH=${CHROME_PATH:-/usr/bin/chromium}
[ -x "$LIGHTHOUSE" ] || { echo "Lighthouse is missing: run make install-dev (npm ci)" >&2; exit 1; }
[ -x "$CHROME_PATH" ] || { echo "Chromium is missing at $CHROME_PATH (apt-get install chromium)" >&2; exit 1; }

WORK=$(mktemp -d)
SERVER=""
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

CONTENT=${CONTENT:-content}
if ! ls "$CONTENT"/steps/*.md >/dev/null 2>&1; then
  CONTENT=tests/fixtures/content
  echo "content/ has no journey yet: using the fixture journey" >&2
fi
PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
FLASK_PRODUCTION=1 FLASK_SECRET_KEY=$($PY -c 'import secrets; print(secrets.token_hex(32))') \
  FLASK_DATABASE="$WORK/clinic.sqlite3" FLASK_CONTENT_DIR="$CONTENT" FLASK_BASE_URL="http://127.0.0.1:$PORT" \
  $PY -m gunicorn --config gunicorn.conf.py --bind "127.0.0.1:$PORT" --no-control-socket >"$WORK/gunicorn.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/gunicorn.log" >&2; exit 1; }
  sleep 0.1
done

# A journey cookie, so the question step renders instead of redirecting to the start.
mapfile -t JOURNEY < <($PY -c "import sys; sys.path.insert(0, 'scripts'); import bench; print(*bench.journey_cookie($PORT), sep='\n')")
COOKIE=${JOURNEY[0]}
STEP=${JOURNEY[1]}
HEADERS=$($PY -c 'import json, sys; print(json.dumps({"Cookie": sys.argv[1]}))' "$COOKIE")

status=0
printf '%-28s %12s %14s %15s %5s\n' PAGE performance accessibility best-practices seo
for page in / "$STEP" /request; do
  out="$WORK/report.json"
  "$LIGHTHOUSE" "http://127.0.0.1:$PORT$page" --form-factor=mobile \
    --only-categories=performance,accessibility,best-practices,seo --extra-headers="$HEADERS" \
    --output=json --output-path="$out" --quiet \
    --chrome-flags="--headless=new --no-sandbox --disable-gpu --disable-quic" || { echo "Lighthouse failed on $page" >&2; status=1; continue; }
  $PY - "$page" "$out" <<'PY' || status=1
import json, sys
page, path = sys.argv[1], sys.argv[2]
report = json.load(open(path))
cats = report["categories"]
scores = [round((cats[c]["score"] or 0) * 100) for c in ("performance", "accessibility", "best-practices", "seo")]
print(f"{page:<28} {scores[0]:>12} {scores[1]:>14} {scores[2]:>15} {scores[3]:>5}")
for cat in cats.values():  # what cost points, so it can be fixed
    for ref in cat["auditRefs"]:
        audit = report["audits"][ref["id"]]
        if ref["weight"] and audit["score"] is not None and audit["score"] < 1:
            print(f"    {cat['id']}: {audit['id']} ({audit['score']}) {audit['title']}")
sys.exit(0 if scores == [100] * 4 else 1)
PY
done
exit $status
