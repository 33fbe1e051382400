"""Production settings rules: refuse weak secret keys and a placeholder clinic phone, parse trusted hosts, set up log
output. No Flask here."""
import ipaddress
import logging
import re
import sys

MIN_SECRET_KEY_LENGTH = 32
# Values people paste from examples; lower-cased, compared after stripping.
PLACEHOLDER_SECRETS = frozenset({
    "change-me", "changeme", "change-me-please", "replace-me", "replaceme", "secret", "secret-key",
    "secretkey", "your-secret-key", "dev", "development", "test", "password", "xxx", "todo",
    "put-a-long-random-value-here",
})
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class ConfigError(RuntimeError):
    """A setting that must not go live; the message says what to change."""


def parse_host_list(value):
    """FLASK_TRUSTED_HOSTS="a.example,www.a.example" -> ["a.example", "www.a.example"]; None stays None."""
    if value is None or isinstance(value, list | tuple):
        return list(value) if value is not None else None
    hosts = [host.strip() for host in str(value).split(",") if host.strip()]
    return hosts or None


def secret_key_problem(key):
    """Why `key` is unfit for production, or None. Never includes the key itself."""
    text = key.decode("latin-1") if isinstance(key, bytes) else str(key)
    lowered = text.strip().lower()
    if lowered in PLACEHOLDER_SECRETS or any(word in lowered for word in ("change-me", "changeme", "replace-me")):
        return "FLASK_SECRET_KEY is a placeholder value"
    if len(text) < MIN_SECRET_KEY_LENGTH:
        return f"FLASK_SECRET_KEY is too short ({len(text)} characters, at least {MIN_SECRET_KEY_LENGTH} needed)"
    return None


def check_production(config, *, debug):
    """Raise ConfigError when production mode is asked for with settings that would be unsafe."""
    if not config.get("PRODUCTION"):
        return
    if debug:
        raise ConfigError("Refusing to start: FLASK_DEBUG is on in production mode. Remove FLASK_DEBUG.")
    key = config.get("SECRET_KEY")
    if not key and config.get("DATABASE_URL"):
        raise ConfigError(
            "Refusing to start in production: FLASK_DATABASE_URL is set (a shared database, so maybe several hosts) "
            "but FLASK_SECRET_KEY is not. A key generated into this host's instance/secret_key would differ from "
            "the other hosts', and a patient's next step on another host would lose their journey. Set the same "
            "FLASK_SECRET_KEY on every host, e.g. the output of `python3 -c 'import secrets; "
            "print(secrets.token_hex(32))'`."
        )
    if key:
        problem = secret_key_problem(key)
        if problem:
            raise ConfigError(
                f"Refusing to start in production: {problem}. Set it to a long random value, e.g. the output of "
                "`python3 -c 'import secrets; print(secrets.token_hex(32))'`, or remove it to have one "
                "generated into instance/secret_key."
            )


def clinic_phone_problem(phone):
    """Why content/journey.yaml's clinic_phone cannot go live, or None.

    Patients are told to call it (flagged requests are told to call today), so a number nobody answers is
    refused: an empty one, all zeros ("+1 (000) 000-0000"), 555-0100 to 555-0199 (the range set aside for
    fiction and examples) or area code 555, which is not in service (the form's own example, (555) 010-0199)."""
    digits = re.sub(r"\D", "", phone or "")
    if not digits:
        return "it is empty or has no digits"
    if set(digits.removeprefix("1") or "0") == {"0"}:
        return f"{phone!r} is a placeholder (all zeros)"
    national = digits[1:] if digits.startswith("1") and len(digits) in (8, 11) else digits
    if re.search(r"55501\d\d$", national) or (len(national) == 10 and national.startswith("555")):
        return f"{phone!r} is a placeholder (555-0100 to 555-0199 and area code 555 are numbers for examples)"
    return None


def check_clinic_phone(phone, *, production, path="content/journey.yaml"):
    """Raise ConfigError in production when the clinic's phone is a placeholder, naming the field."""
    problem = clinic_phone_problem(phone) if production else None
    if problem:
        raise ConfigError(f"Refusing to start in production: clinic_phone in {path}: {problem}. "
                          "Set it to the number patients should call.")


def production_warnings(config):
    """Settings that work but are probably not meant for a live site; logged at start-up."""
    if not config.get("PRODUCTION"):
        return []
    warnings = []
    base_url = str(config.get("BASE_URL") or "")
    if not base_url.startswith("https://"):
        warnings.append(f"FLASK_BASE_URL is {base_url!r}: links in emails should start with https:// and the site's name")
    if not config.get("TRUSTED_HOSTS"):
        warnings.append("FLASK_TRUSTED_HOSTS is not set: any Host header is accepted")
    if not config.get("PROXY_FIX"):
        warnings.append(PROXY_FIX_OFF)
    return warnings


PROXY_FIX_OFF = ("FLASK_PROXY_FIX is off: behind nginx every client looks like 127.0.0.1, so all patients share one "
                 "rate limit, guesses by anyone lock out all staff, and /healthz shows its figures to everyone. "
                 "Set FLASK_PROXY_FIX=1 (README, 'Deployment')")


def forwarded_without_proxy_fix(remote_addr, headers):
    """True for a request a proxy on this machine forwarded (loopback, with X-Forwarded-For) to a site that does not
    read the proxy's headers: the sign that FLASK_PROXY_FIX=1 is missing."""
    try:
        loopback = ipaddress.ip_address(remote_addr or "").is_loopback
    except ValueError:
        return False
    return loopback and "X-Forwarded-For" in headers


def public_bind_problem(binds, *, production, allow_public):
    """Why gunicorn must not listen on `binds` ("host:port", "[::]:port", "unix:path"), or None.

    In production gunicorn must sit behind nginx: its slow-header and body handling is nginx's job, so it listens
    on loopback (or a unix socket) only, unless FLASK_ALLOW_PUBLIC_BIND=1 says a direct public bind is meant."""
    if not production or allow_public:
        return None
    for bind in binds:
        if bind.startswith(("unix:", "fd://")):
            continue
        host = bind.rpartition(":")[0].strip("[]") if ":" in bind else bind
        try:
            public = not ipaddress.ip_address(host).is_loopback
        except ValueError:
            public = host != "localhost"  # "" (every address) or a name that may resolve anywhere
        if public:
            return (f"Refusing to start: GUNICORN_BIND (or --bind) is {bind!r}, reachable from other machines. "
                    "In production gunicorn must sit behind nginx (deploy/nginx-fbss-journey.conf) and listen on "
                    "127.0.0.1 only. Set FLASK_ALLOW_PUBLIC_BIND=1 if a public bind is really meant.")
    return None


def configure_logging(level=logging.INFO):
    """Send our log lines to stderr (gunicorn and the systemd journal collect it) unless logging is set up already."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
        root.setLevel(level)  # only when the handler is ours: a host's own logging set-up keeps its level
