from urllib.parse import urlsplit, urlunsplit


def without_credentials(url: str) -> str:
    """The URL as it may be shown or logged: no user, password, query or fragment, which can hold secrets."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc, query="", fragment=""))
