"""What the scripts that drive a local gunicorn share: a free port and an HTTP client with a cookie jar."""
import http.client
import socket
from urllib.parse import urlencode


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LoopbackClient:
    """http.client to 127.0.0.1 with a cookie jar. Redirects are not followed (wrk does not follow them either)."""

    def __init__(self, port, timeout=30):
        self.port = port
        self.timeout = timeout
        self.cookies = {}

    def cookie_header(self):
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def fetch(self, method, path, fields=None, headers=None):
        """(status, response headers, body text). `fields`, a dict or an encoded string, are posted as a form."""
        headers = dict(headers or {})
        body = None
        if fields is not None:
            body = fields if isinstance(fields, str) else urlencode(fields)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = f"http://127.0.0.1:{self.port}"  # as a browser sends it
        if self.cookies:
            headers["Cookie"] = self.cookie_header()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            for header in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
            return response.status, response.headers, text
        finally:
            conn.close()
