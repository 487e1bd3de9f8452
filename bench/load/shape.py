"""The shape of the load, shared by the driver and the locustfile (which cannot be imported outside locust: it
patches the standard library for gevent)."""

import math

# rate × PORTAL_HEADROOM portal users, each sending one request every PORTAL_HEADROOM seconds: room for one
# submission (form, article suggestions, POST, request page) to take that long before the rate drops.
PORTAL_HEADROOM = 3


def portal_users(rate: float) -> int:
    return max(1, math.ceil(rate * PORTAL_HEADROOM))


def customer_domain(run_id: str) -> str:
    """The email domain of a run's portal customers: how the run finds its tickets afterwards."""
    return f"{run_id}.load.example"
