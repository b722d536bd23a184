"""deploy/kubernetes: every manifest parses, and probes, ports, secrets and security match the service."""

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "kubernetes"
SECRET_TEMPLATE = "secret.template.yaml"

APP = "sentry-notion"
NAME_LABEL = "app.kubernetes.io/name"
UID = 10001
SECRET_KEYS = {"NOTION_TOKEN", "NOTION_CONFIG", "SENTRY_NOTION_INTEGRATION_CLIENT_SECRET", "REDIS_URL"}
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|PRIVATE_KEY|CREDENTIAL", re.IGNORECASE)
SHUTDOWN_S = 25  # the service finishes in-flight requests within this after SIGTERM
MAX_RSS_BYTES = 150 * 1000 * 1000

Manifest = dict[str, Any]


# --- loading -------------------------------------------------------------------------


def _yaml_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*") if p.suffix in {".yaml", ".yml"} and p.is_file())


def _load() -> list[tuple[Path, Manifest]]:
    docs: list[tuple[Path, Manifest]] = []
    for path in _yaml_files():
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is None:  # an empty document between `---` separators
                continue
            assert isinstance(doc, dict), f"{path.name}: each document must be a mapping"
            docs.append((path, doc))
    return docs


@pytest.fixture(scope="module")
def manifests() -> list[tuple[Path, Manifest]]:
    return _load()


def _only(manifests: list[tuple[Path, Manifest]], kind: str) -> Manifest:
    found = [doc for _, doc in manifests if doc.get("kind") == kind]
    assert len(found) == 1, f"expected exactly one {kind}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def deployment(manifests: list[tuple[Path, Manifest]]) -> Manifest:
    return _only(manifests, "Deployment")


@pytest.fixture(scope="module")
def secret(manifests: list[tuple[Path, Manifest]]) -> Manifest:
    return _only(manifests, "Secret")


def _container(deployment: Manifest) -> Manifest:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container = containers[0]
    assert isinstance(container, dict)
    return container


def _http_port(deployment: Manifest) -> int:
    ports = [p for p in _container(deployment).get("ports", []) if p.get("name") == "http"]
    assert len(ports) == 1, "the container needs one port named http"
    port = ports[0]["containerPort"]
    assert isinstance(port, int)
    return port


def _resolve_port(deployment: Manifest, port: int | str) -> int:
    """A probe or Service port, named or numbered, as the container port it reaches."""
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in _container(deployment).get("ports", []) if "name" in p}
    assert port in named, f"port {port!r} is not a named container port"
    resolved = named[port]
    assert isinstance(resolved, int)
    return resolved


def _dockerfile_cmd() -> list[str]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    cmds = [line.strip()[3:].strip() for line in text.splitlines() if line.strip().upper().startswith("CMD ")]
    assert cmds, "the Dockerfile has no CMD"
    cmd = json.loads(cmds[-1])
    assert isinstance(cmd, list)
    return [str(part) for part in cmd]


def _port_flag(command: list[str]) -> int:
    for i, part in enumerate(command):
        if part == "--port":
            return int(command[i + 1])
        if part.startswith("--port="):
            return int(part.split("=", 1)[1])
    raise AssertionError(f"no --port in {command}")


# --- checks, shared with the mutation tests below ------------------------------------


def check_ports(deployment: Manifest) -> None:
    port = _http_port(deployment)
    assert port == 8000
    container = _container(deployment)
    # Either the image's CMD runs as is, or an override must listen on the same port.
    command = [*container.get("command", []), *container.get("args", [])] or _dockerfile_cmd()
    assert _port_flag(command) == port
    assert _port_flag(_dockerfile_cmd()) == port


def check_probes(deployment: Manifest) -> None:
    container = _container(deployment)
    port = _http_port(deployment)
    expected = {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}
    if "startupProbe" in container:
        expected["startupProbe"] = "/healthz"
    for probe, path in expected.items():
        assert probe in container, f"no {probe}"
        http_get = container[probe]["httpGet"]
        assert http_get["path"] == path, f"{probe} should GET {path}"
        assert http_get["port"] == "http", f"{probe} should use the named port http"
        assert _resolve_port(deployment, http_get["port"]) == port
        assert http_get.get("scheme", "HTTP") == "HTTP"


def check_service(service: Manifest, deployment: Manifest) -> None:
    spec = service["spec"]
    assert spec.get("type", "ClusterIP") == "ClusterIP"
    ports = spec["ports"]
    assert len(ports) == 1
    assert ports[0]["port"] == 80
    assert _resolve_port(deployment, ports[0]["targetPort"]) == _http_port(deployment)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert spec["selector"], "a Service without a selector reaches no pod"
    assert spec["selector"].items() <= pod_labels.items()


def check_secret_refs(deployment: Manifest, secret: Manifest) -> None:
    keys = set(secret.get("stringData", {}))
    assert keys >= SECRET_KEYS, f"the Secret template lacks {SECRET_KEYS - keys}"
    refs: dict[str, tuple[str, str]] = {}
    for env in _container(deployment).get("env", []):
        ref = env.get("valueFrom", {}).get("secretKeyRef")
        if ref is not None:
            assert not ref.get("optional", False), f"{env['name']} must not be optional"
            refs[env["name"]] = (ref["name"], ref["key"])
        elif SECRET_NAME.search(env["name"]):
            raise AssertionError(f"{env['name']} must come from the Secret, not a plain value")
    for key in SECRET_KEYS:
        assert refs.get(key) == (secret["metadata"]["name"], key), f"{key} is not read from the Secret"


def check_security(deployment: Manifest) -> None:
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    pod_ctx = pod.get("securityContext", {})
    ctx = container.get("securityContext", {})

    def effective(key: str) -> Any:
        return ctx.get(key, pod_ctx.get(key))

    assert effective("runAsNonRoot") is True
    assert effective("runAsUser") == UID
    assert effective("runAsGroup") in (None, UID)
    assert effective("seccompProfile") == {"type": "RuntimeDefault"}
    assert ctx.get("allowPrivilegeEscalation") is False
    assert ctx.get("readOnlyRootFilesystem") is True
    assert ctx.get("privileged", False) is False
    assert "ALL" in ctx.get("capabilities", {}).get("drop", [])
    assert not ctx.get("capabilities", {}).get("add")
    # A read-only root still gets a writable scratch /tmp.
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    assert "/tmp" in mounts
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    assert "emptyDir" in volumes[mounts["/tmp"]]


# --- the manifests as a whole ---------------------------------------------------------


def test_every_yaml_parses_and_the_kinds_are_there(manifests: list[tuple[Path, Manifest]]) -> None:
    kinds = [doc.get("kind") for _, doc in manifests]
    for kind in (
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Secret",
        "ConfigMap",
        "Kustomization",
    ):
        assert kinds.count(kind) == 1, f"expected one {kind} in deploy/kubernetes, found {kinds.count(kind)}"
    for path, doc in manifests:
        assert doc.get("apiVersion"), f"{path.name}: no apiVersion"
        if doc["kind"] == "Kustomization":
            continue
        assert doc["metadata"]["name"].startswith(APP), f"{path.name}: {doc['metadata']['name']}"
        assert doc["metadata"]["labels"][NAME_LABEL] == APP, f"{path.name}: label {NAME_LABEL}"
        assert "namespace" not in doc["metadata"], f"{path.name}: the namespace is chosen at apply time"


def test_kustomization_lists_every_manifest_but_the_secret_template(manifests: list[tuple[Path, Manifest]]) -> None:
    kustomization = _only(manifests, "Kustomization")
    resources = kustomization["resources"]
    assert len(resources) == len(set(resources))
    for resource in resources:
        assert (K8S / resource).is_file(), f"kustomization lists a missing file: {resource}"
    expected = {
        p.relative_to(K8S).as_posix()
        for p in _yaml_files()
        if p.name not in {"kustomization.yaml", "kustomization.yml", SECRET_TEMPLATE}
    }
    assert set(resources) == expected
    # Applying the directory must never overwrite the real Secret with placeholders.
    assert SECRET_TEMPLATE not in resources
    assert (K8S / SECRET_TEMPLATE).is_file()
    # The image the kustomization sets is the one the Deployment names.
    names = {image["name"] for image in kustomization.get("images", [])}
    assert _container(_only(manifests, "Deployment"))["image"].split(":")[0] in names


def test_deployment_ports_match_the_dockerfile_cmd(deployment: Manifest) -> None:
    check_ports(deployment)


def test_probes_hit_healthz_and_readyz_on_the_http_port(deployment: Manifest) -> None:
    check_probes(deployment)


def test_service_reaches_the_http_port(manifests: list[tuple[Path, Manifest]], deployment: Manifest) -> None:
    check_service(_only(manifests, "Service"), deployment)
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector == {NAME_LABEL: APP}
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_hpa_scales_the_deployment_on_cpu(manifests: list[tuple[Path, Manifest]], deployment: Manifest) -> None:
    hpa = _only(manifests, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        deployment["apiVersion"],
        "Deployment",
        deployment["metadata"]["name"],
    )
    low, high = hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]
    assert 2 <= low < high
    assert low <= deployment["spec"]["replicas"] <= high
    metrics = [m["resource"] for m in hpa["spec"]["metrics"] if m["type"] == "Resource"]
    assert any(m["name"] == "cpu" and m["target"]["type"] == "Utilization" for m in metrics)
    # Utilization is measured against the request, so there must be one.
    assert "cpu" in _container(deployment)["resources"]["requests"]


def test_pdb_keeps_one_pod_of_the_deployment(manifests: list[tuple[Path, Manifest]], deployment: Manifest) -> None:
    pdb = _only(manifests, "PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["minAvailable"] == 1
    # Fewer than the replicas, or a node drain could never evict anything.
    assert pdb["spec"]["minAvailable"] < deployment["spec"]["replicas"]
    selector = pdb["spec"]["selector"]["matchLabels"]
    assert selector
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_security_context(deployment: Manifest) -> None:
    check_security(deployment)
    assert deployment["spec"]["template"]["spec"].get("automountServiceAccountToken") is False
    # The uid is the one the image declares (`USER 10001:10001`).
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users
    assert users[-1].split(":")[0] == str(UID)


def _bytes(quantity: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * factor
    return float(quantity)


def _cores(quantity: str | int | float) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def test_resources_fit_a_service_under_150_mb(deployment: Manifest) -> None:
    resources = _container(deployment)["resources"]
    requests, limits = resources["requests"], resources["limits"]
    for key in ("cpu", "memory"):
        assert key in requests, f"no {key} request"
        assert key in limits, f"no {key} limit"
    assert _bytes(requests["memory"]) <= _bytes(limits["memory"])
    assert _cores(requests["cpu"]) <= _cores(limits["cpu"])
    # Room above the service's peak RSS, so it is neither OOM-killed nor over-reserved.
    assert MAX_RSS_BYTES < _bytes(requests["memory"]) <= 2 * MAX_RSS_BYTES
    assert _bytes(limits["memory"]) <= 4 * MAX_RSS_BYTES


def test_graceful_shutdown_fits_the_grace_period(deployment: Manifest) -> None:
    pod = deployment["spec"]["template"]["spec"]
    command = _container(deployment)["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop_s = int(command[1])
    assert 1 <= pre_stop_s <= 10
    # The grace period counts from the preStop hook, so it must cover both.
    assert pod["terminationGracePeriodSeconds"] >= pre_stop_s + SHUTDOWN_S
    strategy = deployment["spec"]["strategy"]
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0


def test_prometheus_scrape_annotations(deployment: Manifest) -> None:
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert annotations["prometheus.io/port"] == str(_http_port(deployment))


def test_config_comes_from_the_configmap(manifests: list[tuple[Path, Manifest]], deployment: Manifest) -> None:
    configmap = _only(manifests, "ConfigMap")
    sources = [s["configMapRef"]["name"] for s in _container(deployment).get("envFrom", []) if "configMapRef" in s]
    assert sources == [configmap["metadata"]["name"]]
    data = configmap["data"]
    assert {"CACHE_TIMEOUT", "LOG_LEVEL", "REDIS_PREFIX", "NOTION_RATE_LIMIT"} <= set(data)
    assert all(isinstance(value, str) for value in data.values()), "ConfigMap values must be strings"
    # One budget for all replicas, within Notion's ~180 requests/minute per integration token.
    assert 0 < int(data["NOTION_RATE_LIMIT"]) <= 180
    assert not [key for key in data if SECRET_NAME.search(key) or key in SECRET_KEYS]


# --- the Secret template --------------------------------------------------------------


PLACEHOLDER = re.compile(r"<[^<>\n]+>")
REAL_LOOKING = [
    re.compile(r"\b(?:ntn|secret)_[A-Za-z0-9]{8,}"),  # Notion integration tokens
    re.compile(r"\b[0-9a-fA-F]{32}\b"),  # Notion IDs, hex secrets
    re.compile(r"://[^:/\s<>@]*:[^@\s<>$]+@"),  # a password inside a URL
    re.compile(r"[A-Za-z0-9+/=_\-]{24,}"),  # any long token-like run
]


def test_deployment_reads_each_secret_key(deployment: Manifest, secret: Manifest) -> None:
    check_secret_refs(deployment, secret)


def test_secret_template_holds_placeholders_only(secret: Manifest) -> None:
    assert secret.get("type", "Opaque") == "Opaque"
    assert "data" not in secret, "use stringData with readable placeholders, not base64 data"
    for key, value in secret["stringData"].items():
        assert isinstance(value, str)
        assert PLACEHOLDER.search(value), f"{key} must hold a <placeholder>"
        rest = PLACEHOLDER.sub("", value)
        for pattern in REAL_LOOKING:
            assert not pattern.search(rest), f"{key} looks like a real value: {pattern.pattern}"
    config = json.loads(secret["stringData"]["NOTION_CONFIG"])
    assert "database_id" in config
    assert secret["stringData"]["REDIS_URL"].startswith(("redis://", "rediss://"))


@pytest.mark.parametrize("path", [*_yaml_files(), *sorted(K8S.glob("*.md"))], ids=lambda p: p.name)
def test_no_real_looking_secret_anywhere(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for pattern in REAL_LOOKING[:3]:
        assert not pattern.search(text), f"{path.name}: {pattern.pattern}"


# --- the checks fail when the manifests drift ------------------------------------------


def _mutate(edit: Callable[[Manifest], None]) -> Manifest:
    deployment = copy.deepcopy(_only(_load(), "Deployment"))
    edit(deployment)
    return deployment


def _set_probe_path(deployment: Manifest) -> None:
    _container(deployment)["readinessProbe"]["httpGet"]["path"] = "/healthz"


def _set_liveness_port(deployment: Manifest) -> None:
    _container(deployment)["livenessProbe"]["httpGet"]["port"] = 8080


def _set_container_port(deployment: Manifest) -> None:
    _container(deployment)["ports"][0]["containerPort"] = 8080


def _override_port(deployment: Manifest) -> None:
    _container(deployment)["args"] = ["sentry-notion", "serve", "--port", "9000"]


def _drop_secret_ref(deployment: Manifest) -> None:
    container = _container(deployment)
    container["env"] = [e for e in container["env"] if e["name"] != "REDIS_URL"]


def _inline_token(deployment: Manifest) -> None:
    container = _container(deployment)
    container["env"] = [e for e in container["env"] if e["name"] != "NOTION_TOKEN"]
    container["env"].append({"name": "NOTION_TOKEN", "value": "<token>"})


def _writable_root(deployment: Manifest) -> None:
    _container(deployment)["securityContext"]["readOnlyRootFilesystem"] = False


def _run_as_root(deployment: Manifest) -> None:
    _container(deployment)["securityContext"]["runAsUser"] = 0


def _check_secret_refs(deployment: Manifest) -> None:
    check_secret_refs(deployment, _only(_load(), "Secret"))


@pytest.mark.parametrize(
    ("edit", "check"),
    [
        (_set_probe_path, check_probes),
        (_set_liveness_port, check_probes),
        (_set_container_port, check_ports),
        (_override_port, check_ports),
        (_drop_secret_ref, _check_secret_refs),
        (_inline_token, _check_secret_refs),
        (_writable_root, check_security),
        (_run_as_root, check_security),
    ],
    ids=lambda f: str(getattr(f, "__name__", f)).strip("_"),
)
def test_checks_catch_drift(edit: Callable[[Manifest], None], check: Callable[[Manifest], None]) -> None:
    deployment = _mutate(edit)
    check(_mutate(lambda _: None))  # the unchanged manifest passes
    with pytest.raises(AssertionError):
        check(deployment)


def test_service_check_catches_a_wrong_target_port(
    manifests: list[tuple[Path, Manifest]], deployment: Manifest
) -> None:
    service = copy.deepcopy(_only(manifests, "Service"))
    service["spec"]["ports"][0]["targetPort"] = 8080
    with pytest.raises(AssertionError):
        check_service(service, deployment)
    service["spec"]["ports"][0]["targetPort"] = "metrics"
    with pytest.raises(AssertionError):
        check_service(service, deployment)
