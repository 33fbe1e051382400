"""Every setting of the site in one typed place: read once at start-up, and each default written here only.

A setting NAME comes from the environment variable FLASK_NAME, or from the dict a test or script passes to
create_app() (which wins). Values from the environment are taken as text and converted by the setting's type, never
guessed as JSON: a secret key of digits stays a string, and `FLASK_PROXY_FIX=no` means off. Yes/no settings accept
true/false, 1/0, yes/no and on/off in any case and nothing else; numbers are checked against a sensible range. A
problem stops start-up with ConfigError naming the variable. A FLASK_ variable that is no setting is warned about,
with the setting it probably meant.

README.md's settings tables are checked against this class (tests/test_settings.py): add a setting here, then a row
there. No Flask here.
"""
import difflib
import json
from pathlib import Path
from typing import Annotated

from limits import parse_many
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictStr,
    ValidationError,
    model_validator,
)

from clinic.local_time import DEFAULT_ZONE
from clinic.production import ConfigError, parse_host_list

PREFIX = "FLASK_"
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")
# Variables Flask's own command line reads (FLASK_APP, FLASK_DEBUG, FLASK_RUN_PORT ...): not settings of the site.
FLASK_OWN = frozenset({"APP", "DEBUG", "ENV", "SKIP_DOTENV"})
FLASK_OWN_PREFIXES = ("RUN_",)
ARGON2_KEYS = frozenset({"time_cost", "memory_cost", "parallelism", "hash_len", "salt_len"})
CONTENT_DIR = str(Path(__file__).resolve().parent.parent / "content")


def _flag(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise ValueError("must be true/false, 1/0, yes/no or on/off")


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _comma_list(value):
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


def _host_list(value):
    return parse_host_list(value) if isinstance(value, str | list | tuple) else value


def _addresses(values):
    for address in values:
        if "@" not in address or any(c.isspace() for c in address):
            raise ValueError(f"{address!r} is not an email address")
    return values


def _json_object(value):
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise ValueError('must be JSON such as {"time_cost": 3, "memory_cost": 65536, "parallelism": 4}') from None
    return value


def _argon2_keys(value):
    unknown = set(value or {}) - ARGON2_KEYS
    if unknown:
        raise ValueError(f"unknown argon2 parameter {sorted(unknown)[0]!r} (known: {', '.join(sorted(ARGON2_KEYS))})")
    return value


def _rate_limit(value):
    try:
        parse_many(value)
    except ValueError:
        raise ValueError("must be limits such as '5 per minute;30 per hour'") from None
    return value


def _database_url(value):
    if value and not value.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        raise ValueError("must be a postgresql:// URL (leave it unset for SQLite in FLASK_DATABASE)")
    return value


def _url(value):
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value


Bool = Annotated[bool, PlainValidator(_flag)]


def Whole(low, high):  # noqa: N802
    """A whole number from low to high; surrounding spaces in the variable are ignored."""
    return Annotated[int, BeforeValidator(_strip), Field(ge=low, le=high, strict=False)]


def Seconds(low, high):  # noqa: N802
    return Annotated[float, BeforeValidator(_strip), Field(ge=low, le=high, strict=False)]


def setting(default, *, readme=None, secret=False):
    """A field with its default; `readme` is how README's table writes the default when it is computed at start-up."""
    extra = {"secret": secret}
    if readme is not None:
        extra["readme"] = readme
    return Field(default, json_schema_extra=extra)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, strict=True)

    # --- storage and content (README "Configuration")
    SECRET_KEY: StrictStr | None = setting(None, readme="generated into `instance/secret_key`", secret=True)
    DATABASE: StrictStr | None = setting(None, readme="`instance/clinic.sqlite3`")
    # PostgreSQL instead of the SQLite file (clinic/db.py): postgresql://user:password@host:5432/name (psycopg 3)
    DATABASE_URL: Annotated[StrictStr, AfterValidator(_database_url)] = setting("", readme="unset (SQLite)",
                                                                                secret=True)
    DATABASE_BUSY_TIMEOUT_MS: Whole(1, 60_000) = setting(5000)  # a page waits this long for another writer
    CONTENT_DIR: StrictStr = setting(CONTENT_DIR, readme="`content/`")
    JOURNEY_KEEP_DAYS: Whole(1, 365) = setting(7)
    # Housekeeping (clinic/housekeeping.py) in each serving process; false where the systemd timer runs it.
    HOUSEKEEPING_IN_PROCESS: Bool = setting(True)
    HOUSEKEEPING_INTERVAL_SECONDS: Whole(60, 86_400) = setting(3600)
    # A journey's row is made at its first answer: at most this many per client address (Flask-Limiter syntax),
    # and at most JOURNEY_HOURLY_CEILING in the last hour from everyone; past either, a friendly 429 page.
    JOURNEY_CREATE_RATE_LIMIT: Annotated[StrictStr, AfterValidator(_rate_limit)] = setting("10 per minute;30 per hour")
    JOURNEY_HOURLY_CEILING: Whole(1, 10_000_000) = setting(1000)
    CONTINUE_LINK_MAX_AGE_DAYS: Whole(1, 365) = setting(7)
    BASE_URL: Annotated[StrictStr, AfterValidator(_url)] = setting("http://127.0.0.1:5000")
    CLINIC_TIMEZONE: StrictStr = setting(DEFAULT_ZONE)  # an IANA name, checked by clinic.local_time at start-up

    # --- serving (README "Deployment")
    PRODUCTION: Bool = setting(False)
    PROXY_FIX: Bool = setting(False)  # behind exactly one reverse proxy (nginx)
    ALLOW_PUBLIC_BIND: Bool = setting(False)  # production gunicorn on a non-loopback address (gunicorn.conf.py)
    TRUSTED_HOSTS: Annotated[list[StrictStr] | None, BeforeValidator(_host_list)] = setting(None, readme="any")
    HEALTHZ_BUSY_TIMEOUT_MS: Whole(1, 60_000) = setting(1000)
    HEALTHZ_PROBE_SECONDS: Whole(0, 3600) = setting(10)  # /healthz writes to the database at most this often
    HEALTHZ_TOKEN: StrictStr = setting("", secret=True)
    BENCH_ROUTE: Bool = setting(False)  # /bench/ping for scripts/bench.py; always off in production

    # --- second-opinion requests and their mail (README "Mail settings")
    SMTP_HOST: StrictStr = setting("")  # empty: mail is written as .eml files under MAIL_DIR instead
    SMTP_PORT: Whole(1, 65535) = setting(587)
    SMTP_STARTTLS: Bool = setting(True)
    SMTP_USER: StrictStr = setting("")
    SMTP_PASSWORD: StrictStr = setting("", secret=True)
    SMTP_TIMEOUT: Seconds(0.1, 600) = setting(20)
    MAIL_FROM: StrictStr = setting("no-reply@localhost")
    STAFF_EMAILS: Annotated[tuple[StrictStr, ...], BeforeValidator(_comma_list), AfterValidator(_addresses)] = \
        setting((), readme="empty")
    MAIL_DIR: StrictStr | None = setting(None, readme="`instance/mail`")
    PATIENT_RECEIPT: Bool = setting(False)
    OUTBOX_AUTOSEND: Bool = setting(True)
    OUTBOX_POLL_SECONDS: Seconds(0.1, 86_400) = setting(30)
    OUTBOX_MAX_ATTEMPTS: Whole(1, 1000) = setting(10)
    OUTBOX_RETRY_SECONDS: Whole(1, 86_400) = setting(60)  # doubled after each failed attempt, up to an hour
    OUTBOX_LEASE_SECONDS: Whole(1, 86_400) = setting(300)
    REQUEST_MIN_SECONDS: Whole(0, 3600) = setting(3)
    REQUEST_MAX_AGE_SECONDS: Whole(60, 30 * 86_400) = setting(86_400)
    # From everyone together in the last hour; past it requests are still stored, marked for review, and staff get
    # one digest email an hour instead of one each (clinic/requests.py).
    REQUEST_HOURLY_CEILING: Whole(1, 1_000_000) = setting(30)
    REQUEST_RATE_LIMIT: Annotated[StrictStr, AfterValidator(_rate_limit)] = setting("5 per minute;30 per hour")
    RATELIMIT_STORAGE_URI: StrictStr = setting("memory://")
    # Reports attached to a request (README "Reports attached to a request"): off unless the clinic turns them on.
    UPLOADS: Bool = setting(False)
    UPLOADS_DIR: StrictStr | None = setting(None, readme="`uploads/` beside the database")
    CLAMD_SOCKET: StrictStr = setting("")  # a ClamAV daemon's Unix socket: every upload is scanned; empty: none

    # --- staff and retention (README "Privacy and retention settings")
    REQUEST_RETENTION_DAYS: Whole(1, 3650) = setting(365)
    STAFF_SESSION_IDLE_SECONDS: Whole(60, 86_400) = setting(30 * 60)
    STAFF_SESSION_MAX_SECONDS: Whole(60, 7 * 86_400) = setting(12 * 3600)  # however busy, from sign-in
    STAFF_SIGNIN_MAX_FAILURES: Whole(1, 1000) = setting(5)  # per account (known or not) from one address
    STAFF_SIGNIN_IP_MAX_FAILURES: Whole(1, 10_000) = setting(20)  # per client address: staff may share one office
    STAFF_SIGNIN_WINDOW_SECONDS: Whole(60, 86_400) = setting(15 * 60)
    STAFF_SIGNIN_ACCOUNT_SLOWDOWN_FAILURES: Whole(1, 100_000) = setting(50)  # one account, all addresses, an hour
    STAFF_ARGON2: Annotated[dict[StrictStr, int] | None, BeforeValidator(_json_object), AfterValidator(_argon2_keys)] = \
        setting(None, readme="library defaults")

    @model_validator(mode="after")
    def _consistent(self):
        if self.OUTBOX_LEASE_SECONDS <= self.SMTP_TIMEOUT:
            raise ValueError(
                f"FLASK_OUTBOX_LEASE_SECONDS ({self.OUTBOX_LEASE_SECONDS}) must be longer than FLASK_SMTP_TIMEOUT "
                f"({self.SMTP_TIMEOUT:g}): a sender still waiting on the mail server would lose its claim and the "
                "message could go out twice")
        if self.REQUEST_MIN_SECONDS >= self.REQUEST_MAX_AGE_SECONDS:
            raise ValueError("FLASK_REQUEST_MIN_SECONDS must be less than FLASK_REQUEST_MAX_AGE_SECONDS")
        return self

    @classmethod
    def from_sources(cls, environ, overrides=None):
        """Settings from FLASK_ variables in `environ`, then `overrides` (setting name -> value); ConfigError if wrong."""
        values, sources = {}, {}
        for name in cls.model_fields:
            if PREFIX + name in environ:
                values[name] = environ[PREFIX + name]
                sources[name] = PREFIX + name
        for name, value in (overrides or {}).items():
            if name in cls.model_fields:
                values[name] = value
                sources[name] = f"{name} (create_app)"
        try:
            return cls(**values)
        except ValidationError as error:
            problems = [_describe(item, sources) for item in error.errors()]
            raise ConfigError("Refusing to start: " + "; ".join(problems)) from None

    def as_config(self):
        """The values for app.config, under the setting names."""
        return {name: getattr(self, name) for name in type(self).model_fields}


def _describe(error, sources):
    loc = error["loc"]
    if not loc:  # a rule across settings: its message names them
        return str(error.get("ctx", {}).get("error", error["msg"]))
    name = str(loc[0])
    source = sources.get(name, PREFIX + name)
    field = Settings.model_fields[name]
    problem = str(error["ctx"]["error"]) if error["type"] == "value_error" else error["msg"]
    low = next((m.ge for m in field.metadata if hasattr(m, "ge")), None)
    high = next((m.le for m in field.metadata if hasattr(m, "le")), None)
    if low is not None and high is not None:
        kind = "a whole number" if field.annotation is int else "a number"
        problem = f"must be {kind} from {low:g} to {high:g}"
    elif error["type"] in ("string_type",):
        problem = "must be text"
    secret = (field.json_schema_extra or {}).get("secret")
    given = "" if secret or "input" not in error else f" (it is {error['input']!r})"
    return f"{source}: {problem}{given}"


def documented_default(name):
    """The default as README's table writes it: `587`, `true`, empty, or the field's own words."""
    field = Settings.model_fields[name]
    extra = field.json_schema_extra or {}
    if "readme" in extra:
        return extra["readme"]
    value = field.default
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, int | float):
        return f"`{value:g}`"
    if value in ("", (), None):
        return "empty"
    return f"`{value}`"


def unknown_variables(environ):
    """Warnings for FLASK_ variables that are no setting, naming the setting each probably meant."""
    known = list(Settings.model_fields)
    warnings = []
    for variable in sorted(environ):
        if not variable.startswith(PREFIX):
            continue
        name = variable[len(PREFIX):]
        if name in Settings.model_fields or name in FLASK_OWN or name.startswith(FLASK_OWN_PREFIXES):
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        hint = f"did you mean {PREFIX}{close[0]}?" if close else "see README 'Configuration' for the settings"
        warnings.append(f"{variable} is not a setting of this site and is ignored: {hint}")
    return warnings
