"""The shape of the load, shared by the driver and the locustfile (which cannot be imported outside locust: it
patches the standard library for gevent)."""

import math
import random
import time

# rate × PORTAL_HEADROOM portal users, each sending one request every PORTAL_HEADROOM seconds on average (at random
# moments: poisson_arrivals below): room for one submission (form, article suggestions, POST, request page) to
# take that long before the rate drops.
PORTAL_HEADROOM = 3


def portal_users(rate: float) -> int:
    return max(1, math.ceil(rate * PORTAL_HEADROOM))


def customer_domain(run_id: str) -> str:
    """The email domain of a run's portal customers: how the run finds its tickets afterwards."""
    return f"{run_id}.load.example"


def poisson_arrivals(runs_per_second: float, *, clock=time.monotonic, rng=random):
    """A wait_time for locust: the user's tasks start at random moments, independently of each other and of the
    other users, ``runs_per_second`` on average: a Poisson process per user, so all the users together make one
    of the summed rate, as customers arriving one by one do. (locust's constant_throughput keeps the moments at
    which users were started: it starts them in batches once a second, so 20 submissions per second arrived as
    bursts of about 20 at once.) A start that falls while the user's previous task still runs waits for it; a user
    that falls further behind than one mean interval drops the rest of its lag instead of sending a burst.
    ``clock`` and ``rng`` are for the tests."""

    def wait_time(user) -> float:
        now = clock()
        last = max(getattr(user, "_next_start", now), now - 1 / runs_per_second)
        user._next_start = last + rng.expovariate(runs_per_second)
        return max(0.0, user._next_start - now)

    return wait_time
