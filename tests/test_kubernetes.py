"""deploy/kubernetes: every manifest parses, and probes, ports, secrets and security match the service.

Three workloads run the one image: the app Deployment (`serve`), the worker Deployment (`worker`)
and the reconcile CronJob (`reconcile`).
"""

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from entrypoints.cli import parse_args

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "kubernetes"
SECRET_TEMPLATE = "secret.template.yaml"

APP = "sentry-notion"
WORKER = f"{APP}-worker"
RECONCILE = f"{APP}-reconcile"
NAME_LABEL = "app.kubernetes.io/name"
PART_OF_LABEL = "app.kubernetes.io/part-of"
UID = 10001
SECRET_KEYS = {"NOTION_TOKEN", "NOTION_CONFIG", "SENTRY_NOTION_INTEGRATION_CLIENT_SECRET", "REDIS_URL"}
# In the Secret template, and read by every workload, but the Secret may lack them: the refs are optional.
OPTIONAL_SECRET_KEYS = {"SENTRY_API_TOKEN", "NOTION_WEBHOOK_SECRET"}
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|PRIVATE_KEY|CREDENTIAL", re.IGNORECASE)
SHUTDOWN_S = 25  # the service finishes in-flight requests within this after SIGTERM
WORKER_GRACE_S = 60  # the worker finishes the job in hand after SIGTERM
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


def _named(manifests: list[tuple[Path, Manifest]], kind: str, name: str) -> Manifest:
    found = [doc for _, doc in manifests if doc.get("kind") == kind and doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected exactly one {kind} {name}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def deployment(manifests: list[tuple[Path, Manifest]]) -> Manifest:
    return _named(manifests, "Deployment", APP)


@pytest.fixture(scope="module")
def worker(manifests: list[tuple[Path, Manifest]]) -> Manifest:
    return _named(manifests, "Deployment", WORKER)


@pytest.fixture(scope="module")
def cronjob(manifests: list[tuple[Path, Manifest]]) -> Manifest:
    return _named(manifests, "CronJob", RECONCILE)


@pytest.fixture(scope="module")
def secret(manifests: list[tuple[Path, Manifest]]) -> Manifest:
    return _only(manifests, "Secret")


def _template(workload: Manifest) -> Manifest:
    """The pod template of a Deployment or a CronJob."""
    spec = workload["spec"]
    template = spec["jobTemplate"]["spec"]["template"] if workload["kind"] == "CronJob" else spec["template"]
    assert isinstance(template, dict)
    return template


def _pod(workload: Manifest) -> Manifest:
    pod = _template(workload)["spec"]
    assert isinstance(pod, dict)
    return pod


def _container(workload: Manifest) -> Manifest:
    containers = _pod(workload)["containers"]
    assert len(containers) == 1
    container = containers[0]
    assert isinstance(container, dict)
    return container


def _workloads(manifests: list[tuple[Path, Manifest]]) -> list[Manifest]:
    return [doc for _, doc in manifests if doc.get("kind") in {"Deployment", "CronJob"}]


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


def _command(workload: Manifest) -> list[str]:
    """What the container runs: its command and args, or else the image's CMD (there is no ENTRYPOINT)."""
    container = _container(workload)
    return [*container.get("command", []), *container.get("args", [])] or _dockerfile_cmd()


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
    # Either the image's CMD runs as is, or an override must listen on the same port.
    command = _command(deployment)
    assert command[:2] == ["sentry-notion", "serve"]
    assert _port_flag(command) == port
    assert _port_flag(_dockerfile_cmd()) == port


def check_web_only(deployment: Manifest) -> None:
    # The worker Deployment applies the queue; serve would otherwise run a worker in every web pod.
    assert "--no-worker" in _command(deployment)


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


def _secret_refs(workload: Manifest) -> dict[str, tuple[str, str, bool]]:
    """Environment variable -> (Secret, key, optional), for the variables read from a Secret."""
    refs: dict[str, tuple[str, str, bool]] = {}
    for env in _container(workload).get("env", []):
        ref = env.get("valueFrom", {}).get("secretKeyRef")
        if ref is not None:
            refs[env["name"]] = (ref["name"], ref["key"], bool(ref.get("optional", False)))
    return refs


def check_secret_refs(workload: Manifest, secret: Manifest) -> None:
    keys = set(secret.get("stringData", {}))
    expected = SECRET_KEYS | OPTIONAL_SECRET_KEYS
    assert keys >= expected, f"the Secret template lacks {expected - keys}"
    for env in _container(workload).get("env", []):
        if "secretKeyRef" not in env.get("valueFrom", {}) and SECRET_NAME.search(env["name"]):
            raise AssertionError(f"{env['name']} must come from the Secret, not a plain value")
    refs = _secret_refs(workload)
    name = secret["metadata"]["name"]
    for key in SECRET_KEYS:
        assert refs.get(key) == (name, key, False), f"{key} must be read from the Secret, and not be optional"
    # Optional keys: a Secret created before they existed must still start the pods.
    for key in OPTIONAL_SECRET_KEYS:
        assert refs.get(key) == (name, key, True), f"{key} must be read from the Secret, as optional"
    assert set(refs) == expected, f"unexpected Secret refs: {set(refs) - expected}"


def check_security(workload: Manifest) -> None:
    pod = _pod(workload)
    container = _container(workload)
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
    # No workload calls the Kubernetes API.
    assert pod.get("automountServiceAccountToken") is False


def check_worker(worker: Manifest) -> None:
    assert _command(worker) == ["sentry-notion", "worker"]
    container = _container(worker)
    # It serves only its metrics, on the CLI's default --metrics-port, scraped from each pod; no probe asks
    # HTTP (or TCP) of it.
    port = parse_args(_command(worker)[1:]).metrics_port
    assert container.get("ports") == [{"name": "metrics", "containerPort": port, "protocol": "TCP"}]
    annotations = worker["spec"]["template"]["metadata"].get("annotations", {})
    assert annotations.get("prometheus.io/scrape") == "true"
    assert (annotations.get("prometheus.io/port"), annotations.get("prometheus.io/path")) == (str(port), "/metrics")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        if probe in container:
            assert set(container[probe]) & {"httpGet", "tcpSocket", "grpc"} == set(), f"{probe} must be exec"
    # Long enough to finish the job in hand after SIGTERM, and no preStop delay eating into it.
    assert _pod(worker)["terminationGracePeriodSeconds"] >= WORKER_GRACE_S
    assert "preStop" not in container.get("lifecycle", {})
    assert worker["spec"]["replicas"] == 2


def check_cronjob(cronjob: Manifest) -> None:
    assert _command(cronjob) == ["sentry-notion", "reconcile"]
    spec = cronjob["spec"]
    # Two runs at once would walk the database twice and race on the same entries.
    assert spec["concurrencyPolicy"] == "Forbid"
    assert len(spec["schedule"].split()) == 5, "a five-field cron schedule"
    job = spec["jobTemplate"]["spec"]
    assert _pod(cronjob)["restartPolicy"] in {"Never", "OnFailure"}
    # A stuck run ends, rather than blocking every later one behind Forbid.
    assert job.get("activeDeadlineSeconds", 0) > 0
    assert not _container(cronjob).get("ports")


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def check_selectors(manifests: list[tuple[Path, Manifest]]) -> None:
    """Each Deployment, Service and PDB selects the pods of one workload only: a worker pod that the
    app's Service selected would get Sentry's requests, one in the app's PDB or HPA would skew them."""
    pods = {w["metadata"]["name"]: _template(w)["metadata"]["labels"] for w in _workloads(manifests)}
    for _, doc in manifests:
        kind = doc.get("kind")
        if kind in {"Deployment", "PodDisruptionBudget"}:
            selector = doc["spec"]["selector"]["matchLabels"]
        elif kind == "Service":
            selector = doc["spec"]["selector"]
        else:
            continue
        assert selector, f"{kind} {doc['metadata']['name']} has an empty selector"
        selected = sorted(name for name, labels in pods.items() if _matches(selector, labels))
        assert len(selected) == 1, f"{kind} {doc['metadata']['name']} selects the pods of {selected}"
        if kind == "Deployment":
            assert selected == [doc["metadata"]["name"]]


# --- the manifests as a whole ---------------------------------------------------------


def test_every_yaml_parses_and_the_kinds_are_there(manifests: list[tuple[Path, Manifest]]) -> None:
    kinds = [doc.get("kind") for _, doc in manifests]
    expected = {
        "Deployment": 2,  # the app and the worker
        "Service": 1,  # the app only: the worker serves only metrics, scraped from each pod
        "HorizontalPodAutoscaler": 1,
        "PodDisruptionBudget": 2,
        "CronJob": 1,
        "Secret": 1,
        "ConfigMap": 1,
        "Kustomization": 1,
    }
    assert {kind: kinds.count(kind) for kind in expected} == expected
    assert set(kinds) == set(expected), f"unexpected kinds: {set(kinds) - set(expected)}"
    for path, doc in manifests:
        assert doc.get("apiVersion"), f"{path.name}: no apiVersion"
        if doc["kind"] == "Kustomization":
            continue
        name, labels = doc["metadata"]["name"], doc["metadata"]["labels"]
        assert name.startswith(APP), f"{path.name}: {name}"
        assert labels[NAME_LABEL] in {APP, WORKER, RECONCILE}, f"{path.name}: label {NAME_LABEL}"
        assert labels[PART_OF_LABEL] == APP, f"{path.name}: label {PART_OF_LABEL}"
        assert "namespace" not in doc["metadata"], f"{path.name}: the namespace is chosen at apply time"
    for workload in _workloads(manifests):
        # `kubectl get pods -l app.kubernetes.io/part-of=sentry-notion` lists every pod.
        labels = _template(workload)["metadata"]["labels"]
        assert labels[NAME_LABEL] == workload["metadata"]["labels"][NAME_LABEL]
        assert labels[PART_OF_LABEL] == APP


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
    # The image the kustomization sets is the one every workload names: one image for all three.
    names = {image["name"] for image in kustomization.get("images", [])}
    images = {_container(workload)["image"] for workload in _workloads(manifests)}
    assert len(images) == 1, f"the workloads run different images: {images}"
    assert images <= names


def test_deployment_ports_match_the_dockerfile_cmd(deployment: Manifest) -> None:
    check_ports(deployment)


def test_web_replicas_leave_the_queue_to_the_worker_deployment(deployment: Manifest) -> None:
    check_web_only(deployment)


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


@pytest.mark.parametrize("name", [APP, WORKER])
def test_pdb_keeps_one_pod_of_each_deployment(manifests: list[tuple[Path, Manifest]], name: str) -> None:
    deployment = _named(manifests, "Deployment", name)
    pdb = _named(manifests, "PodDisruptionBudget", name)
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["minAvailable"] == 1
    # Fewer than the replicas, or a node drain could never evict anything.
    assert pdb["spec"]["minAvailable"] < deployment["spec"]["replicas"]
    selector = pdb["spec"]["selector"]["matchLabels"]
    assert selector
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_each_selector_reaches_one_workload(manifests: list[tuple[Path, Manifest]]) -> None:
    check_selectors(manifests)


def test_security_context(manifests: list[tuple[Path, Manifest]]) -> None:
    for workload in _workloads(manifests):
        check_security(workload)
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


@pytest.mark.parametrize(("kind", "name"), [("Deployment", APP), ("Deployment", WORKER), ("CronJob", RECONCILE)])
def test_resources_fit_a_service_under_150_mb(manifests: list[tuple[Path, Manifest]], kind: str, name: str) -> None:
    resources = _container(_named(manifests, kind, name))["resources"]
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


def test_config_comes_from_the_configmap(manifests: list[tuple[Path, Manifest]]) -> None:
    configmap = _only(manifests, "ConfigMap")
    for workload in _workloads(manifests):
        sources = [s["configMapRef"]["name"] for s in _container(workload).get("envFrom", []) if "configMapRef" in s]
        assert sources == [configmap["metadata"]["name"]], workload["metadata"]["name"]
    data = configmap["data"]
    assert {"CACHE_TIMEOUT", "LOG_LEVEL", "REDIS_PREFIX", "NOTION_RATE_LIMIT", "SENTRY_ORG", "SENTRY_URL"} <= set(data)
    assert data["SENTRY_URL"].startswith(("http://", "https://"))
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


def test_each_workload_reads_each_secret_key(manifests: list[tuple[Path, Manifest]], secret: Manifest) -> None:
    for workload in _workloads(manifests):
        check_secret_refs(workload, secret)


def test_worker_and_reconcile_get_the_app_environment(
    deployment: Manifest, worker: Manifest, cronjob: Manifest
) -> None:
    # The same Secret keys, ConfigMap and plain values as serve: the worker applies what serve queued.
    def environment(workload: Manifest) -> tuple[Any, Any]:
        container = _container(workload)
        env = sorted((e["name"], json.dumps(e, sort_keys=True)) for e in container.get("env", []))
        return env, container.get("envFrom")

    assert environment(worker) == environment(deployment)
    assert environment(cronjob) == environment(deployment)
    assert _secret_refs(worker) == _secret_refs(deployment)


def test_worker_runs_the_worker_command(worker: Manifest) -> None:
    check_worker(worker)


def test_reconcile_cronjob_runs_reconcile_one_at_a_time(cronjob: Manifest) -> None:
    check_cronjob(cronjob)


@pytest.mark.parametrize(("kind", "name"), [("Deployment", APP), ("Deployment", WORKER), ("CronJob", RECONCILE)])
def test_each_command_exists_in_the_cli(
    manifests: list[tuple[Path, Manifest]], kind: str, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli import main

    command = _command(_named(manifests, kind, name))
    assert command[0] == "sentry-notion", "the console script the image installs"
    with pytest.raises(SystemExit) as exited:
        main([*command[1:], "--help"])  # argparse checks the subcommand and its flags, then exits
    assert exited.value.code == 0, capsys.readouterr().err


def test_secret_template_holds_placeholders_only(secret: Manifest) -> None:
    assert secret.get("type", "Opaque") == "Opaque"
    assert "data" not in secret, "use stringData with readable placeholders, not base64 data"
    for key, value in secret["stringData"].items():
        assert isinstance(value, str)
        assert PLACEHOLDER.search(value), f"{key} must hold a <placeholder>"
        rest = PLACEHOLDER.sub("", value)
        for pattern in REAL_LOOKING:
            assert not pattern.search(rest), f"{key} looks like a real value: {pattern.pattern}"
    assert set(secret["stringData"]) == SECRET_KEYS | OPTIONAL_SECRET_KEYS
    config = json.loads(secret["stringData"]["NOTION_CONFIG"])
    assert "database_id" in config
    assert secret["stringData"]["REDIS_URL"].startswith(("redis://", "rediss://"))


@pytest.mark.parametrize("path", [*_yaml_files(), *sorted(K8S.glob("*.md"))], ids=lambda p: p.name)
def test_no_real_looking_secret_anywhere(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for pattern in REAL_LOOKING[:3]:
        assert not pattern.search(text), f"{path.name}: {pattern.pattern}"


# --- the checks fail when the manifests drift ------------------------------------------


def _mutate(edit: Callable[[Manifest], None], kind: str = "Deployment", name: str = APP) -> Manifest:
    workload = copy.deepcopy(_named(_load(), kind, name))
    edit(workload)
    return workload


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


def _serve_instead(worker: Manifest) -> None:
    _container(worker)["args"] = ["sentry-notion", "serve"]


def _drop_command(workload: Manifest) -> None:
    # Falls back to the image's CMD, which is serve.
    _container(workload).pop("args", None)
    _container(workload).pop("command", None)


def _add_port(worker: Manifest) -> None:
    _container(worker)["ports"].append({"name": "http", "containerPort": 8000})


def _scrape_the_app_port(worker: Manifest) -> None:
    worker["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] = "8000"


def _http_liveness(worker: Manifest) -> None:
    _container(worker)["livenessProbe"] = {"httpGet": {"path": "/healthz", "port": 8000}}


def _short_grace(worker: Manifest) -> None:
    _pod(worker)["terminationGracePeriodSeconds"] = 30


def _allow_concurrency(cronjob: Manifest) -> None:
    cronjob["spec"]["concurrencyPolicy"] = "Allow"


def _no_deadline(cronjob: Manifest) -> None:
    del cronjob["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"]


def _require_optional_key(workload: Manifest) -> None:
    for env in _container(workload)["env"]:
        if env["name"] in OPTIONAL_SECRET_KEYS:
            env["valueFrom"]["secretKeyRef"]["optional"] = False


def _drop_optional_key(workload: Manifest) -> None:
    container = _container(workload)
    container["env"] = [e for e in container["env"] if e["name"] not in OPTIONAL_SECRET_KEYS]


def _pod_runs_as_root(workload: Manifest) -> None:
    _pod(workload)["securityContext"]["runAsUser"] = 0
    _container(workload)["securityContext"].pop("runAsUser")


def _mount_token(workload: Manifest) -> None:
    _pod(workload)["automountServiceAccountToken"] = True


@pytest.mark.parametrize(
    ("edit", "check"),
    [
        (_set_probe_path, check_probes),
        (_set_liveness_port, check_probes),
        (_set_container_port, check_ports),
        (_override_port, check_ports),
        (_override_port, check_web_only),
        (_drop_command, check_web_only),
        (_drop_secret_ref, _check_secret_refs),
        (_inline_token, _check_secret_refs),
        (_writable_root, check_security),
        (_run_as_root, check_security),
        (_require_optional_key, _check_secret_refs),
    ],
    ids=lambda f: str(getattr(f, "__name__", f)).strip("_"),
)
def test_checks_catch_drift(edit: Callable[[Manifest], None], check: Callable[[Manifest], None]) -> None:
    deployment = _mutate(edit)
    check(_mutate(lambda _: None))  # the unchanged manifest passes
    with pytest.raises(AssertionError):
        check(deployment)


@pytest.mark.parametrize(
    ("edit", "check"),
    [
        (_serve_instead, check_worker),
        (_drop_command, check_worker),
        (_add_port, check_worker),
        (_scrape_the_app_port, check_worker),
        (_http_liveness, check_worker),
        (_short_grace, check_worker),
        (_writable_root, check_security),
        (_pod_runs_as_root, check_security),
        (_mount_token, check_security),
        (_drop_secret_ref, _check_secret_refs),
        (_drop_optional_key, _check_secret_refs),
        (_require_optional_key, _check_secret_refs),
    ],
    ids=lambda f: str(getattr(f, "__name__", f)).strip("_"),
)
def test_worker_checks_catch_drift(edit: Callable[[Manifest], None], check: Callable[[Manifest], None]) -> None:
    check(_mutate(lambda _: None, "Deployment", WORKER))
    with pytest.raises(AssertionError):
        check(_mutate(edit, "Deployment", WORKER))


@pytest.mark.parametrize(
    ("edit", "check"),
    [
        (_allow_concurrency, check_cronjob),
        (_no_deadline, check_cronjob),
        (_drop_command, check_cronjob),
        (_serve_instead, check_cronjob),
        (_writable_root, check_security),
        (_run_as_root, check_security),
        (_pod_runs_as_root, check_security),
        (_inline_token, _check_secret_refs),
        (_drop_optional_key, _check_secret_refs),
    ],
    ids=lambda f: str(getattr(f, "__name__", f)).strip("_"),
)
def test_cronjob_checks_catch_drift(edit: Callable[[Manifest], None], check: Callable[[Manifest], None]) -> None:
    check(_mutate(lambda _: None, "CronJob", RECONCILE))
    with pytest.raises(AssertionError):
        check(_mutate(edit, "CronJob", RECONCILE))


def _relabel(manifests: list[tuple[Path, Manifest]], name: str, label: str) -> list[tuple[Path, Manifest]]:
    changed = copy.deepcopy(manifests)
    for _, doc in changed:
        if doc.get("kind") in {"Deployment", "CronJob"} and doc["metadata"]["name"] == name:
            _template(doc)["metadata"]["labels"][NAME_LABEL] = label
    return changed


@pytest.mark.parametrize("name", [WORKER, RECONCILE])
def test_selector_check_catches_pods_the_app_would_select(manifests: list[tuple[Path, Manifest]], name: str) -> None:
    check_selectors(manifests)
    # Labelled like the app, these pods would get Sentry's requests through the app's Service.
    with pytest.raises(AssertionError):
        check_selectors(_relabel(manifests, name, APP))


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
