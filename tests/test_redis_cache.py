"""The cache backend (helpdesk.redis_cache): Django's Redis cache with one client object per pool, used by
every call (Django gives each thread a cache object of its own), and still working in a forked child (as
gunicorn's workers are)."""

import os
import threading

from django.core.cache import cache, caches

from helpdesk.redis_cache import RedisCache


def test_the_cache_is_ours_and_makes_one_client_per_pool():
    assert isinstance(caches["default"], RedisCache)
    first = cache._cache.get_client(write=True)
    cache.set("redis-cache-test", {"a": 1}, timeout=30)
    assert cache.get("redis-cache-test") == {"a": 1}
    assert cache.incr(cache.add("redis-cache-counter", 1, timeout=30) and "redis-cache-counter") == 2
    assert cache._cache.get_client(write=False) is first is cache._cache.get_client(write=True)
    cache.delete_many(["redis-cache-test", "redis-cache-counter"])


def test_each_thread_keeps_its_client_and_gets_its_own_answers():
    clients, errors = {}, []

    def work(number):
        try:
            client = cache._cache.get_client()
            for round_ in range(50):
                cache.set(f"redis-cache-thread-{number}", round_, timeout=30)
                assert cache.get(f"redis-cache-thread-{number}") == round_
                assert cache._cache.get_client() is client
            clients[number] = client
        except Exception as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(clients) == 8
    cache.delete_many([f"redis-cache-thread-{number}" for number in range(8)])


def test_a_forked_child_uses_connections_of_its_own():
    cache.set("redis-cache-fork", "parent", timeout=30)  # the parent's pool has a connection now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer through the pipe, never return into pytest
        try:
            cache.set("redis-cache-fork", "child", timeout=30)
            os.write(write, str(cache.get("redis-cache-fork")).encode())
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 100).decode()
    os.waitpid(pid, 0)
    os.close(read)
    assert answer == "child" and cache.get("redis-cache-fork") == "child"
    cache.delete("redis-cache-fork")
