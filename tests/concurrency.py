"""Running the same work in several threads at once, each with its own database connection, for tests that
prove a service is safe when two workers (or two sweeps) run it together."""

import threading

from django.db import connection


def run_at_once(work, argument_lists) -> list:
    """Call ``work(*args)`` for each args in ``argument_lists``, each in its own thread, all at once; returns
    the results in order and raises the first error any thread met."""
    results, errors = [None] * len(argument_lists), []

    def run(index, args):
        try:
            results[index] = work(*args)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, args)) for i, args in enumerate(argument_lists)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
