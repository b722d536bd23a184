"""Deployment files: compose, Dockerfile, .dockerignore, .env.example, README."""

import ast
import copy
import json
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from entrypoints.cli import parse_args

ROOT = Path(__file__).resolve().parents[1]

SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|PRIVATE_KEY|CREDENTIAL", re.IGNORECASE)


# --- docker-compose.yml --------------------------------------------------------------


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(compose, dict)
    services = compose["services"]
    assert isinstance(services, dict)
    return services


def _environment(service: dict[str, Any]) -> dict[str, str | None]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) for item in env)
        return {p[0]: (p[1] if len(p) > 1 else None) for p in pairs}
    assert isinstance(env, dict)
    return {str(k): (None if v is None else str(v)) for k, v in env.items()}


def _env_files(service: dict[str, Any]) -> list[str]:
    env_file = service.get("env_file") or []
    entries = [env_file] if isinstance(env_file, (str, dict)) else list(env_file)
    return [e["path"] if isinstance(e, dict) else e for e in entries]


def test_redis_has_healthcheck_and_no_host_ports(services: dict[str, Any]) -> None:
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    test = redis["healthcheck"]["test"]
    command = " ".join(test) if isinstance(test, list) else test
    assert "redis-cli" in command
    assert "ping" in command
    assert "ports" not in redis


def test_app_waits_for_healthy_redis(services: dict[str, Any]) -> None:
    app = services["app"]
    assert app["depends_on"]["redis"]["condition"] == "service_healthy"
    assert _environment(app)["REDIS_URL"] == "redis://redis:6379/0"
    assert app["restart"] == "unless-stopped"
    assert "8000:8000" in app["ports"]


def test_the_app_port_is_published_on_loopback_only() -> None:
    # /metrics and /readyz answer on it, unsigned; Sentry reaches the app through an HTTPS proxy instead.
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    default = compose["networks"]["default"]
    assert default["driver_opts"]["com.docker.network.bridge.host_binding_ipv4"] == "127.0.0.1"
    for name, service in compose["services"].items():
        assert not {"networks", "network_mode"} & set(service), f"{name} must stay on the default network"
        for port in service.get("ports", []):
            assert str(port).count(":") == 1 or str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"


def _duration_s(value: str | int | float) -> float:
    """A compose duration (`60s`, `1m30s`, `1m`, `500ms`) in seconds."""
    text = str(value).strip()
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", text)
    assert parts, f"not a duration: {value!r}"
    assert "".join(n + u for n, u in parts) == text, f"not a duration: {value!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def _command(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def check_compose_worker(services: dict[str, Any]) -> None:
    app, worker = services["app"], services["worker"]
    assert _command(worker) == ["sentry-notion", "worker"]
    # The app is web only: serve would otherwise run a worker of its own beside this service.
    assert "command" in app
    assert _command(app)[:2] == ["sentry-notion", "serve"]
    assert "--no-worker" in _command(app)
    # The same image, built the same way, and the same environment as the app.
    assert worker.get("build") == app.get("build")
    assert worker.get("image") == app.get("image")
    assert "entrypoint" not in worker
    assert _env_files(worker) == _env_files(app)
    assert _environment(worker) == _environment(app)
    # It publishes nothing (its metrics are for the compose network), and `--scale worker=N` needs no fixed name.
    assert not worker.get("ports"), "the worker publishes no port"
    metrics_port = parse_args(_command(worker)[1:]).metrics_port
    assert [str(port) for port in worker.get("expose", [])] == [str(metrics_port)]
    assert "container_name" not in worker
    depends_on = worker.get("depends_on")
    assert isinstance(depends_on, dict), "the worker must wait for a healthy Redis (depends_on with a condition)"
    assert depends_on.get("redis", {}).get("condition") == "service_healthy"
    assert worker.get("restart") == "unless-stopped"
    # SIGTERM lets it finish the job in hand (compose waits 10 s by default, then kills).
    assert _duration_s(worker.get("stop_grace_period", "10s")) >= 60
    # The image's HEALTHCHECK asks :8000/healthz, which only serve answers.
    healthcheck = worker.get("healthcheck", {})
    assert healthcheck.get("disable") is True or healthcheck.get("test") in (["NONE"], "NONE"), (
        "the image's HTTP healthcheck would mark the worker unhealthy"
    )


def test_worker_runs_beside_the_app(services: dict[str, Any]) -> None:
    check_compose_worker(services)


def test_worker_and_app_commands_exist_in_the_cli(services: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    from cli import main

    for service in ("worker", "app"):
        command = _command(services[service])
        with pytest.raises(SystemExit) as exited:
            main([*command[1:], "--help"])
        assert exited.value.code == 0, capsys.readouterr().err


def _worker_serves(services: dict[str, Any]) -> None:
    services["worker"]["command"] = ["sentry-notion", "serve"]


def _worker_as_string(services: dict[str, Any]) -> None:
    services["worker"]["command"] = "sentry-notion worker --verbose"


def _worker_publishes_a_port(services: dict[str, Any]) -> None:
    services["worker"]["ports"] = ["8001:8000"]


def _worker_other_env_file(services: dict[str, Any]) -> None:
    services["worker"]["env_file"] = [".env.worker"]


def _worker_other_redis(services: dict[str, Any]) -> None:
    services["worker"]["environment"] = {"REDIS_URL": "redis://localhost:6379/0"}


def _worker_short_grace(services: dict[str, Any]) -> None:
    services["worker"]["stop_grace_period"] = "10s"


def _worker_default_grace(services: dict[str, Any]) -> None:
    del services["worker"]["stop_grace_period"]


def _worker_http_healthcheck(services: dict[str, Any]) -> None:
    del services["worker"]["healthcheck"]


def _worker_metrics_on_another_port(services: dict[str, Any]) -> None:
    services["worker"]["expose"] = ["9102"]


def _worker_starts_before_redis(services: dict[str, Any]) -> None:
    services["worker"]["depends_on"] = ["redis"]


def _worker_other_image(services: dict[str, Any]) -> None:
    services["worker"]["build"] = "./worker"


def _app_runs_a_worker(services: dict[str, Any]) -> None:
    del services["app"]["command"]  # the image's CMD: serve with its own worker


@pytest.mark.parametrize(
    "edit",
    [
        _worker_serves,
        _worker_as_string,
        _worker_publishes_a_port,
        _worker_other_env_file,
        _worker_other_redis,
        _worker_short_grace,
        _worker_default_grace,
        _worker_http_healthcheck,
        _worker_metrics_on_another_port,
        _worker_starts_before_redis,
        _worker_other_image,
        _app_runs_a_worker,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_worker_check_catches_drift(services: dict[str, Any], edit: Callable[[dict[str, Any]], None]) -> None:
    changed = copy.deepcopy(services)
    edit(changed)
    with pytest.raises(AssertionError):
        check_compose_worker(changed)


def test_duration_parsing() -> None:
    assert _duration_s("60s") == 60
    assert _duration_s("1m30s") == 90
    assert _duration_s("1m") == 60
    assert _duration_s("500ms") == 0.5
    with pytest.raises(AssertionError):
        _duration_s("60")


def test_no_secrets_inline(services: dict[str, Any]) -> None:
    assert ".env" in _env_files(services["app"])
    for name, service in services.items():
        for key, value in _environment(service).items():
            assert not SECRET_NAME.search(key), f"{name}: {key} must come from env_file"
            assert value is None or "://" not in value or "@" not in value, f"{name}: {key}"


# --- Dockerfile ----------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with comments dropped and continuations joined."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    if current:
        logical.append(current)
    result = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        result.append((keyword.upper(), args.strip()))
    return result


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    starts = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    assert len(starts) >= 2, "the Dockerfile should be multi-stage"
    return instructions[starts[-1] :]


def _command_line(args: str) -> list[str]:
    if args.startswith("["):
        parsed = json.loads(args)
        assert isinstance(parsed, list)
        return [str(part) for part in parsed]
    return ["/bin/sh", "-c", args]


def _last(stage: list[tuple[str, str]], keyword: str) -> str | None:
    found = [args for kw, args in stage if kw == keyword]
    return found[-1] if found else None


def _cmd() -> list[str]:
    cmd = _last(_final_stage(), "CMD")
    assert cmd is not None, "the final stage has no CMD"
    return _command_line(cmd)


def test_dockerfile_cmd_is_the_serve_command() -> None:
    assert _cmd() == ["sentry-notion", "serve", "--host", "0.0.0.0", "--port", "8000"]
    assert _last(_final_stage(), "ENTRYPOINT") is None


def test_readme_documents_the_dockerfile_cmd() -> None:
    # The README starts the service with `uv run <CMD>`; both must stay in step.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    expected = "uv run " + " ".join(_cmd())
    assert expected in readme, f"README.md should contain: {expected}"


def test_dockerfile_runs_as_non_root() -> None:
    user = _last(_final_stage(), "USER")
    assert user is not None, "the final stage has no USER"
    name = user.split(":", 1)[0]
    assert name not in {"root", "0", ""}


def test_dockerfile_has_healthcheck_on_healthz() -> None:
    healthcheck = _last(_final_stage(), "HEALTHCHECK")
    assert healthcheck is not None
    assert not healthcheck.upper().startswith("NONE")
    assert "http://127.0.0.1:8000/healthz" in healthcheck
    assert "8000" in (_last(_final_stage(), "EXPOSE") or "").split()


def test_dockerfile_installs_from_the_lock_without_dev_deps() -> None:
    runs = " ".join(args for kw, args in _instructions() if kw == "RUN")
    assert "uv sync --locked --no-dev --no-editable" in runs
    envs = [args for kw, args in _instructions() if kw in {"ENV", "ARG"}]
    for env in envs:
        assert not SECRET_NAME.search(env), env


# --- .dockerignore -------------------------------------------------------------------


def _docker_pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Docker reads it: anchored at the context root,
    `*` and `?` stay within one path segment, `**` spans any number of them."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def _dockerignored(path: str) -> bool:
    """Whether Docker leaves `path` out of the build context.

    The last matching pattern wins, `!` re-includes, and a pattern that matches
    a parent folder matches everything below it.
    """
    rules: list[tuple[bool, re.Pattern[str]]] = []
    for raw in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        cleaned = line.removeprefix("!").strip().strip("/")
        rules.append((negate, _docker_pattern(cleaned)))
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negate, regex in rules:
        if any(regex.match(prefix) for prefix in prefixes):
            excluded = not negate
    return excluded


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".env.local",
        ".env.production",
        ".git/config",
        ".venv/bin/python",
        "tests/x.py",
        "key.pem",
        "deploy/certs/server.pem",
        "adapters/.env",
        "domain/__pycache__/models.cpython-311.pyc",
    ],
)
def test_dockerignore_excludes(path: str) -> None:
    assert _dockerignored(path)


@pytest.mark.parametrize(
    "path",
    [
        "pyproject.toml",
        "uv.lock",
        "README.md",
        "cli.py",
        "container.py",
        "settings/__init__.py",
        "sentry_ui_schema.json",
        "domain/models.py",
        "adapters/notion/client.py",
        "entrypoints/http/__init__.py",
        ".env.example",
    ],
)
def test_dockerignore_keeps_build_inputs(path: str) -> None:
    assert not _dockerignored(path)


# --- .env.example --------------------------------------------------------------------


def test_env_example_lists_settings_without_secret_values() -> None:
    values: dict[str, str] = {}
    for raw in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    assert {
        "NOTION_TOKEN",
        "NOTION_CONFIG",
        "SENTRY_NOTION_INTEGRATION_CLIENT_SECRET",
        "CACHE_TIMEOUT",
        "LOG_LEVEL",
    } <= set(values)
    for key, value in values.items():
        if SECRET_NAME.search(key):
            assert value == "", f"{key} must be empty in .env.example"
    assert values["CACHE_TIMEOUT"] == "21600"
    assert values["LOG_LEVEL"] == "info"
    config = json.loads(values["NOTION_CONFIG"])
    assert "database_id" in config
    assert set(config["column_names"].values()) == {"Assignee", "ID", "Sentry Link"}


def test_shlex_roundtrip_of_cmd() -> None:
    # The README line must be pasteable into a shell as is.
    assert shlex.split(" ".join(_cmd())) == _cmd()


# --- HTTPS: deploy/caddy/Caddyfile and docker-compose.tls.yml ---------------------------

CADDYFILE = ROOT / "deploy" / "caddy" / "Caddyfile"
# What Sentry and Notion call; everything else (/metrics, /readyz, /healthz) stays internal.
PUBLIC_PATHS = {"/sentry/*", "/notion/*"}


def _caddy_routes(text: str) -> list[tuple[str | None, list[str]]]:
    """(path matcher or None, directives) of each `handle` block in the one site block, plus
    (None, [directive]) for a directive written directly in the site block."""
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    assert lines[0].endswith("{"), "one site block"
    assert lines[-1] == "}", "one site block"
    routes: list[tuple[str | None, list[str]]] = []
    block: list[str] | None = None
    for line in lines[1:-1]:
        if line.startswith("handle") and line.endswith("{"):
            assert block is None, "nested handle blocks"
            words = line[:-1].split()
            block = []
            routes.append((words[1] if len(words) > 1 else None, block))
        elif line == "}":
            assert block is not None
            block = None
        elif block is not None:
            block.append(line)
        else:
            routes.append((None, [line]))
    return routes


def check_caddyfile(text: str) -> None:
    routes = _caddy_routes(text)
    proxied = {path for path, directives in routes if any(d.startswith("reverse_proxy") for d in directives)}
    assert proxied == PUBLIC_PATHS, f"Caddy forwards {proxied}"
    for _path, directives in routes:
        for directive in directives:
            if directive.startswith("reverse_proxy"):
                assert directive.split()[1:] == ["app:8000"], "the compose app service, on the port it listens on"
    fallback = [directives for path, directives in routes if path is None]
    assert len(fallback) == 1, "one catch-all handle, for everything not forwarded"
    assert any(d.startswith("respond") and d.split()[-1] == "404" for d in fallback[0])


def test_caddy_forwards_only_the_public_paths() -> None:
    check_caddyfile(CADDYFILE.read_text(encoding="utf-8"))


def _caddy_forwards_metrics(text: str) -> str:
    return text.replace("\thandle {", "\thandle /metrics {\n\t\treverse_proxy app:8000\n\t}\n\thandle {", 1)


def _caddy_forwards_everything(text: str) -> str:
    return text.replace('respond `{"message": "Not found"}` 404', "reverse_proxy app:8000")


def _caddy_proxies_outside_handle(text: str) -> str:
    return text.replace("\thandle /sentry/* {", "\treverse_proxy app:8000\n\thandle /sentry/* {", 1)


def _caddy_other_upstream(text: str) -> str:
    return text.replace("reverse_proxy app:8000", "reverse_proxy app:9000", 1)


def _caddy_no_notion(text: str) -> str:
    return text.replace("/notion/*", "/notion", 1)


@pytest.mark.parametrize(
    "edit",
    [
        _caddy_forwards_metrics,
        _caddy_forwards_everything,
        _caddy_proxies_outside_handle,
        _caddy_other_upstream,
        _caddy_no_notion,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_caddyfile_check_catches_drift(edit: Callable[[str], str]) -> None:
    text = CADDYFILE.read_text(encoding="utf-8")
    changed = edit(text)
    assert changed != text
    with pytest.raises(AssertionError):
        check_caddyfile(changed)


def test_tls_compose_file_puts_caddy_in_front_of_the_app(services: dict[str, Any]) -> None:
    tls = yaml.safe_load((ROOT / "docker-compose.tls.yml").read_text(encoding="utf-8"))
    caddy = tls["services"]["caddy"]
    assert set(tls["services"]) == {"caddy"}, "the TLS file only adds the proxy"
    assert caddy["image"].startswith("caddy:")
    # docker-compose.yml binds unaddressed ports to loopback: the proxy's must say they are public.
    assert {"0.0.0.0:80:80", "0.0.0.0:443:443"} <= set(caddy["ports"])
    assert caddy["depends_on"] == ["app"]
    assert "app" in services
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in caddy["volumes"]}
    assert (ROOT / mounts["/etc/caddy/Caddyfile"]).resolve() == CADDYFILE
    assert mounts["/data"] in tls["volumes"], "certificates survive a restart"
    # Off unless asked: the base stack publishes no HTTPS port of its own.
    assert not any("443" in str(port) for service in services.values() for port in service.get("ports", []))


# --- deploy/kubernetes: what ships off, what the Ingress example exposes ------------------

K8S = ROOT / "deploy" / "kubernetes"


def test_reconcile_cronjob_ships_suspended_and_the_readme_says_how_to_enable_it() -> None:
    cronjob = yaml.safe_load((K8S / "reconcile-cronjob.yaml").read_text(encoding="utf-8"))
    assert cronjob["kind"] == "CronJob"
    assert cronjob["spec"]["suspend"] is True, "without SENTRY_API_TOKEN it would fail every hour"
    readme = (K8S / "README.md").read_text(encoding="utf-8")
    assert "`suspend: false`" in readme
    assert "SENTRY_API_TOKEN" in readme


def _readme_ingresses() -> list[dict[str, Any]]:
    blocks = re.findall(r"```yaml\n(.*?)```", (K8S / "README.md").read_text(encoding="utf-8"), re.DOTALL)
    docs = [doc for block in blocks for doc in yaml.safe_load_all(block)]
    return [doc for doc in docs if isinstance(doc, dict) and doc.get("kind") == "Ingress"]


def check_ingress(ingress: dict[str, Any], service: dict[str, Any]) -> None:
    spec = ingress["spec"]
    hosts = [rule["host"] for rule in spec["rules"]]
    assert hosts, "a host per rule: TLS needs a name"
    assert set(hosts) <= {host for tls in spec["tls"] for host in tls["hosts"]}, "every host has TLS"
    assert all(tls.get("secretName") for tls in spec["tls"])
    assert "defaultBackend" not in spec, "a default backend would expose every other path"
    port_names = {port["name"] for port in service["spec"]["ports"]}
    exposed = set()
    for rule in spec["rules"]:
        for path in rule["http"]["paths"]:
            assert path["pathType"] == "Prefix"
            backend = path["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"]
            assert backend["port"].get("name") in port_names or backend["port"].get("number") in {
                port["port"] for port in service["spec"]["ports"]
            }
            exposed.add(path["path"])
    assert exposed == {"/sentry/", "/notion/"}, f"the Ingress exposes {exposed}"


def test_ingress_example_exposes_only_sentry_and_notion_over_tls() -> None:
    service = yaml.safe_load((K8S / "service.yaml").read_text(encoding="utf-8"))
    ingresses = _readme_ingresses()
    assert len(ingresses) == 1
    check_ingress(ingresses[0], service)


def _ingress_exposes_root(ingress: dict[str, Any]) -> None:
    ingress["spec"]["rules"][0]["http"]["paths"][0]["path"] = "/"


def _ingress_exposes_metrics(ingress: dict[str, Any]) -> None:
    paths = ingress["spec"]["rules"][0]["http"]["paths"]
    paths.append({**copy.deepcopy(paths[0]), "path": "/metrics"})


def _ingress_without_tls(ingress: dict[str, Any]) -> None:
    ingress["spec"]["tls"] = []


def _ingress_default_backend(ingress: dict[str, Any]) -> None:
    ingress["spec"]["defaultBackend"] = copy.deepcopy(ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"])


def _ingress_other_service(ingress: dict[str, Any]) -> None:
    ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] = "sentry-notion-worker"


@pytest.mark.parametrize(
    "edit",
    [
        _ingress_exposes_root,
        _ingress_exposes_metrics,
        _ingress_without_tls,
        _ingress_default_backend,
        _ingress_other_service,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_ingress_check_catches_drift(edit: Callable[[dict[str, Any]], None]) -> None:
    service = yaml.safe_load((K8S / "service.yaml").read_text(encoding="utf-8"))
    changed = copy.deepcopy(_readme_ingresses()[0])
    edit(changed)
    with pytest.raises(AssertionError):
        check_ingress(changed, service)


# --- deploy/prometheus/alerts.yml ----------------------------------------------------------

ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
_METRIC_CLASSES = {"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"}


def _source_metrics() -> tuple[dict[str, set[str]], set[str]]:
    """Every series name the code exposes, with the labels it declares, and every string constant
    in the code (label values the alerts may match)."""
    series: dict[str, set[str]] = {}
    strings: set[str] = set()
    skip = {"tests", "benchmarks", ".venv"}
    for path in ROOT.rglob("*.py"):
        if skip & set(path.relative_to(ROOT).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                strings.add(node.value)
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _METRIC_CLASSES):
                continue
            if not (node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                continue
            name, kind = node.args[0].value, node.func.id
            labels_node = node.args[2] if len(node.args) > 2 else None
            labels_node = next((k.value for k in node.keywords if k.arg == "labelnames"), labels_node)
            labels = set(ast.literal_eval(labels_node)) if labels_node is not None else set()
            base = name.removesuffix("_total") if kind == "Counter" else name
            names = {
                "Counter": [f"{base}_total"],
                "Gauge": [name],
                "Enum": [name],
                "Info": [f"{name}_info"],
                "Histogram": [f"{name}_bucket", f"{name}_count", f"{name}_sum"],
                "Summary": [name, f"{name}_count", f"{name}_sum"],
            }[kind]
            for exposed in names:
                series[exposed] = labels | ({"le"} if exposed.endswith("_bucket") else set())
    return series, strings


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def check_alert(rule: dict[str, Any], series: dict[str, set[str]], strings: set[str]) -> None:
    assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rule["alert"])
    assert rule["labels"]["severity"] in {"warning", "critical"}
    assert rule["annotations"]["summary"]
    if "for" in rule:
        _duration_s(rule["for"])
    expr = rule["expr"]
    used = re.findall(r"\b(sentry_notion_[a-z0-9_]+)(?:\{([^}]*)\})?", expr)
    assert used, f"{rule['alert']} names no sentry_notion metric"
    declared: set[str] = set()
    for name, selector in used:
        assert name in series, f"{rule['alert']}: the code exposes no {name}"
        declared |= series[name]
        for label, operator, value in re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', selector):
            assert label in series[name], f"{rule['alert']}: {name} has no label {label}"
            # A regular expression here is an alternation of values, each one the code must have.
            for one in value.split("|") if operator in ("=~", "!~") else [value]:
                assert one in strings, f"{rule['alert']}: no {label}={one!r} in the code"
    for grouping in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        for label in filter(None, (part.strip() for part in grouping.split(","))):
            assert label in declared, f"{rule['alert']}: groups by {label}, which its metrics lack"


def test_alert_rules_name_only_metrics_and_labels_the_code_exposes() -> None:
    series, strings = _source_metrics()
    rules = _rules()
    assert {"sentry_notion_webhooks_total", "sentry_notion_queue_oldest_job_age_seconds"} <= set(series)
    for rule in rules:
        check_alert(rule, series, strings)
    covered = " ".join(rule["expr"] for rule in rules)
    for needed in (
        "queue_oldest_job_age_seconds",
        "queue_dead_letters",
        "notion_throttled_total",
        'outcome="lost"',
        'jobs_total{outcome="failed"}',
    ):
        assert needed in covered, f"no alert on {needed}"
    assert len({rule["alert"] for rule in rules}) == len(rules)


@pytest.mark.parametrize(
    "expr",
    [
        "sentry_notion_queue_oldest_job_age_secs > 300",
        'sum(increase(sentry_notion_webhooks_total{result="lost"}[15m])) > 0',
        'sum(increase(sentry_notion_webhooks_total{outcome="vanished"}[15m])) > 0',
        'sum(rate(sentry_notion_jobs_total{outcome=~"applied|crashed"}[15m])) > 0',
        "max by (route) (sentry_notion_dependency_up) == 0",
        "up == 0",
    ],
)
def test_alert_check_catches_names_the_code_lacks(expr: str) -> None:
    series, strings = _source_metrics()
    rule = {**_rules()[0], "expr": expr}
    with pytest.raises(AssertionError):
        check_alert(rule, series, strings)
