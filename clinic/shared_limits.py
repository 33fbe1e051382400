"""Counting a limit in the shared store (Redis when FLASK_RATELIMIT_STORAGE_URI says so), and in this process's
memory while that store cannot be reached. No Flask here.

Flask-Limiter does the same for the limits on routes (its in-memory fallback, turned on in blueprints/requests.py);
this is for a limit counted by hand, the per-address journey limit (blueprints/journey.py), which Flask-Limiter
never sees failing. Down Redis means limits keep working per process, never a refused patient and never an
error page: README "Rate limits on two hosts".
"""
import logging
import time

from limits.storage import MemoryStorage

log = logging.getLogger(__name__)
RETRY_SECONDS = 30  # while the store is down, try it again at most this often (a dead host costs a connect timeout)


class FallbackCounter:
    """`hit(limit, *identifiers)` -> (allowed, the strategy that counted it, for its window stats).

    `primary` is a limits strategy (e.g. Flask-Limiter's `limiter.limiter`) on the shared storage; the fallback is
    the same strategy on memory. The first failure is logged once (no address, no health detail); so is recovery.
    """

    def __init__(self, primary, clock=time.monotonic, retry_seconds=RETRY_SECONDS):
        self.primary = primary
        self.fallback = type(primary)(MemoryStorage())
        self.clock = clock
        self.retry_seconds = retry_seconds
        self.down_since = None

    def hit(self, limit, *identifiers):
        if self.down_since is None or self.clock() - self.down_since >= self.retry_seconds:
            try:
                allowed = self.primary.hit(limit, *identifiers)
            except Exception as error:  # any storage failure: redis' ConnectionError, TimeoutError, limits' own
                if self.down_since is None:
                    log.warning("rate limit storage unreachable (%s): counting limits in this process's memory "
                                "until it answers", type(error).__name__)
                self.down_since = self.clock()
            else:
                if self.down_since is not None:
                    log.info("rate limit storage answers again: counting limits there")
                    self.down_since = None
                return allowed, self.primary
        return self.fallback.hit(limit, *identifiers), self.fallback
