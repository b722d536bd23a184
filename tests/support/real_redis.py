# The Redis the tests share, named once so that a developer or CI can point every test at another one.
import os

import redis
from redis.exceptions import RedisError

REDIS_URL = os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/15"
# Nothing listens on port 1: a Redis that is down, for the tests of how the service copes.
REDIS_DOWN = "redis://127.0.0.1:1/0"


def why_unreachable(url: str) -> str | None:
    """Why Redis does not answer PING at url within a second, or None when it does."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except (RedisError, OSError) as exc:
        return str(exc) or type(exc).__name__
    finally:
        client.close()
    return None
