"""The bare Flask app `make bench` compares the site with: one route returning a short string, no extensions.

scripts/bench.py calls it in-process with Flask's test client and serves it with gunicorn under the project's
gunicorn.conf.py (`bench_bare:app`), so each ratio "bare Flask / the site" is measured both ways.
"""
from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return "ok", 200, {"Content-Type": "text/plain"}
