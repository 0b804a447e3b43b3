"""Kubernetes manifests: every file parses, and each has the kinds, containers, ports, probes,
volumes and references the deployment relies on (checked statically: no cluster here)."""

from __future__ import annotations

import pathlib
from typing import Any

import tomllib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
EXPECTED_KINDS = {
    "namespace.yaml": ["Namespace"],
    "inference-deployment.yaml": ["Deployment"],
    "sidecar-headless-service.yaml": ["Service"],
    "learner-deployment.yaml": ["ConfigMap", "Deployment"],
    "learner-service.yaml": ["Service"],
    "learner-pvc.yaml": ["PersistentVolumeClaim"],
    "secret-example.yaml": ["Secret"],
    "prometheus-scrape.yaml": ["ConfigMap"],
    "certificates-example.yaml": ["Issuer", "Certificate", "Issuer", "Certificate", "Certificate",
                                  "Certificate", "Certificate"],
    "network-policy.yaml": ["NetworkPolicy", "NetworkPolicy"],
}


def _docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d is not None]


def _one(name: str, kind: str) -> dict[str, Any]:
    (doc,) = [d for d in _docs(name) if d["kind"] == kind]
    return doc


def _container(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    (c,) = [c for c in containers if c["name"] == name]
    return c


def _ports(container: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container.get("ports", [])}


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def _mounts(container: dict[str, Any]) -> dict[str, str]:
    return {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}


def _volumes(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in deployment["spec"]["template"]["spec"].get("volumes", [])}


def test_every_manifest_parses_with_the_expected_kinds() -> None:
    assert {p.name for p in K8S.glob("*.yaml")} == set(EXPECTED_KINDS)
    for name, kinds in EXPECTED_KINDS.items():
        docs = _docs(name)
        assert [d["kind"] for d in docs] == kinds, name
        for d in docs:
            assert d["apiVersion"] and d["metadata"]["name"], name


@pytest.mark.parametrize("name", ["inference-deployment.yaml", "learner-deployment.yaml"])
def test_deployments_select_their_own_pods(name: str) -> None:
    dep = _one(name, "Deployment")
    selector = dep["spec"]["selector"]["matchLabels"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items()
    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    for c in pod["containers"]:
        assert c["securityContext"]["allowPrivilegeEscalation"] is False, c["name"]
        assert "memory" in c["resources"]["limits"], c["name"]


def test_inference_pod_runs_the_sidecar_next_to_the_model() -> None:
    dep = _one("inference-deployment.yaml", "Deployment")
    pod = dep["spec"]["template"]
    assert [c["name"] for c in pod["spec"]["containers"]] == ["model-server", "loopwise-sidecar"]
    model, sidecar = (_container(dep, n) for n in ("model-server", "loopwise-sidecar"))
    env = _env(sidecar)
    assert env["SIDECAR_SERVER_DATA_ADDR"].startswith("127.0.0.1:")  # data plane: loopback only
    assert _env(model)["LOOPWISE_SIDECAR_ADDR"] == env["SIDECAR_SERVER_DATA_ADDR"]
    assert env["POD_IP"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    ports = _ports(sidecar)
    assert env["SIDECAR_SERVER_ADMIN_ADDR"] == f"$(POD_IP):{ports['admin']}"
    assert env["SIDECAR_SERVER_METRICS_ADDR"].endswith(f":{ports['metrics']}")
    notes = pod["metadata"]["annotations"]
    assert notes["prometheus.io/scrape"] == "true"
    assert notes["prometheus.io/port"] == str(ports["metrics"])
    # Native gRPC probes speak plain text, which mutual TLS refuses: `sidecar health` probes.
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        command = sidecar[probe]["exec"]["command"]
        assert command[:2] == ["sidecar", "health"] and "--server-name" in command
        assert command[command.index("--server-name") + 1] in _certificate("loopwise-sidecar-tls")[
            "spec"]["dnsNames"]


def _owner_only_token(dep: dict[str, Any], path: str) -> None:
    """``path`` is the 0600 copy that an init container makes of the token Secret, in a
    memory-backed emptyDir (a Secret volume a non-root user can read is group-readable, and
    token files must be owner-only)."""
    directory, name = str(pathlib.PurePosixPath(path).parent), pathlib.PurePosixPath(path).name
    (init,) = dep["spec"]["template"]["spec"]["initContainers"]
    init_mounts, volumes = _mounts(init), _volumes(dep)
    assert volumes[init_mounts[directory]]["emptyDir"]["medium"] == "Memory"
    script = init["command"][-1]
    assert "os.umask(0o077)" in script and f"{directory}/{name}" in script
    sources = [m for m, v in init_mounts.items() if "secret" in volumes[v]]
    (source,) = sources
    assert volumes[init_mounts[source]]["secret"]["secretName"] == (
        _one("secret-example.yaml", "Secret")["metadata"]["name"])
    assert f"{source}/{name}" in script


def test_sidecar_state_and_token_come_from_volumes() -> None:
    dep = _one("inference-deployment.yaml", "Deployment")
    sidecar = _container(dep, "loopwise-sidecar")
    env, mounts, volumes = _env(sidecar), _mounts(sidecar), _volumes(dep)
    db_volume = volumes[mounts[str(pathlib.PurePosixPath(env["SIDECAR_STORE_DB"]).parent)]]
    assert "emptyDir" in db_volume or "persistentVolumeClaim" in db_volume
    token = env["SIDECAR_SERVER_ADMIN_TOKEN_FILE"]
    assert volumes[mounts[str(pathlib.PurePosixPath(token).parent)]]["name"] == "admin-token"
    _owner_only_token(dep, token)
    assert sidecar["securityContext"]["readOnlyRootFilesystem"] is True


def test_headless_service_resolves_every_sidecar() -> None:
    svc = _one("sidecar-headless-service.yaml", "Service")
    assert svc["spec"]["clusterIP"] == "None"
    dep = _one("inference-deployment.yaml", "Deployment")
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    named = _ports(_container(dep, "loopwise-sidecar"))
    for port in svc["spec"]["ports"]:
        assert named[port["targetPort"]] == port["port"]
    config = _one("learner-deployment.yaml", "ConfigMap")["data"]["learner.toml"]
    assert f"{svc['metadata']['name']}." in config  # the learner resolves it through DNS


def test_learner_deployment_service_and_volume_fit_together() -> None:
    dep = _one("learner-deployment.yaml", "Deployment")
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"]["type"] == "Recreate"
    learner = _container(dep, "learner")
    assert learner["args"] == ["serve", "--config", "/etc/loopwise/learner.toml"]
    mounts, volumes = _mounts(learner), _volumes(dep)
    pvc = _one("learner-pvc.yaml", "PersistentVolumeClaim")
    assert volumes[mounts["/var/lib/loopwise"]]["persistentVolumeClaim"]["claimName"] == (
        pvc["metadata"]["name"])
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    config_map = _one("learner-deployment.yaml", "ConfigMap")
    assert volumes[mounts["/etc/loopwise"]]["configMap"]["name"] == config_map["metadata"]["name"]
    assert "learner.toml" in config_map["data"]
    toml = tomllib.loads(config_map["data"]["learner.toml"])
    assert toml["fleet"]["admin_token_file"] == toml["server"]["admin_token_file"]
    _owner_only_token(dep, toml["server"]["admin_token_file"])
    svc = _one("learner-service.yaml", "Service")
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    ports = _ports(learner)
    for port in svc["spec"]["ports"]:
        assert ports[port["targetPort"]] == port["port"]
    notes = dep["spec"]["template"]["metadata"]["annotations"]
    assert notes["prometheus.io/port"] == str(ports["metrics"])


def test_the_secret_is_a_marked_placeholder() -> None:
    text = (K8S / "secret-example.yaml").read_text()
    assert "EXAMPLE ONLY - DO NOT APPLY AS IS" in text
    secret = _one("secret-example.yaml", "Secret")
    assert secret["stringData"]["admin-token"].startswith("REPLACE-ME")


def test_no_token_is_inlined_in_any_manifest() -> None:
    for name in EXPECTED_KINDS:
        for doc in _docs(name):
            pods = [doc["spec"]["template"]["spec"]] if doc["kind"] == "Deployment" else []
            for c in (c for pod in pods for c in pod["containers"]):
                for key, value in _env(c).items():
                    if "TOKEN" in key or "SECRET" in key:
                        assert key.endswith("_FILE") and str(value).startswith("/"), key


def _certificate(secret_name: str) -> dict[str, Any]:
    (cert,) = [d for d in _docs("certificates-example.yaml")
               if d["kind"] == "Certificate" and d["spec"]["secretName"] == secret_name]
    return cert


def _secret_files(dep: dict[str, Any], container: dict[str, Any], paths: list[str]) -> str:
    """The Secret the files at ``paths`` come from (all from one mount); its mode has no bits
    for others."""
    mounts, volumes = _mounts(container), _volumes(dep)
    dirs = {str(pathlib.PurePosixPath(p).parent) for p in paths}
    (directory,) = dirs
    secret = volumes[mounts[directory]]["secret"]
    assert secret["defaultMode"] & 0o007 == 0
    return str(secret["secretName"])


def test_every_plane_speaks_mutual_tls_with_cert_manager_certificates() -> None:
    issuers = {d["spec"]["issuerRef"]["name"] for d in _docs("certificates-example.yaml")
               if d["kind"] == "Certificate" and not d["spec"].get("isCA")}
    assert issuers == {"loopwise-ca"}  # one CA verifies every peer
    dep = _one("inference-deployment.yaml", "Deployment")
    sidecar, model = _container(dep, "loopwise-sidecar"), _container(dep, "model-server")
    env = _env(sidecar)
    files = [env[f"SIDECAR_SERVER_TLS_{k}_FILE"] for k in ("CERT", "KEY", "CLIENT_CA")]
    secret = _secret_files(dep, sidecar, files)
    usages = _certificate(secret)["spec"]["usages"]
    assert {"server auth", "client auth"} <= set(usages)  # serves, and probes as a client
    model_env = _env(model)
    files = [model_env[f"LOOPWISE_SIDECAR_TLS_{k}_FILE"] for k in ("CERT", "KEY", "CA")]
    assert "client auth" in _certificate(_secret_files(dep, model, files))["spec"]["usages"]
    assert model_env["LOOPWISE_SIDECAR_TLS_SERVER_NAME"] in _certificate(secret)["spec"]["dnsNames"]
    learner_dep = _one("learner-deployment.yaml", "Deployment")
    learner = _container(learner_dep, "learner")
    tls = tomllib.loads(_one("learner-deployment.yaml", "ConfigMap")["data"]["learner.toml"])["tls"]
    learner_secret = _secret_files(learner_dep, learner, [tls[k] for k in ("cert_file", "key_file",
                                                                            "ca_file")])
    spec = _certificate(learner_secret)["spec"]
    assert {"server auth", "client auth"} <= set(spec["usages"])
    assert "loopwise-learner" in spec["dnsNames"]  # the Service name the CLI dials
    assert tls["server_name"] in _certificate(secret)["spec"]["dnsNames"]


def test_admin_planes_are_bound_narrowly() -> None:
    for name in EXPECTED_KINDS:
        assert "0.0.0.0" not in (K8S / name).read_text(), name
    sidecar = _env(_container(_one("inference-deployment.yaml", "Deployment"), "loopwise-sidecar"))
    assert sidecar["SIDECAR_SERVER_DATA_ADDR"].startswith("127.0.0.1:")
    assert sidecar["SIDECAR_SERVER_ADMIN_ADDR"].startswith("$(POD_IP):")
    learner = _env(_container(_one("learner-deployment.yaml", "Deployment"), "learner"))
    assert learner["LOOPWISE_LEARNER_ADMIN_ADDR"].startswith("$(POD_IP):")
    assert learner["LOOPWISE_LEARNER_METRICS_ADDR"].startswith("$(POD_IP):")
    # Only learner pods reach the sidecar's admin port.
    policy = _docs("network-policy.yaml")[0]
    assert policy["spec"]["podSelector"]["matchLabels"] == {"loopwise.io/sidecar": "true"}
    admin = [r for r in policy["spec"]["ingress"]
             if {"port": 50052, "protocol": "TCP"} in r.get("ports", [])]
    (rule,) = admin
    assert rule["from"] == [{"podSelector": {"matchLabels": {
        "app.kubernetes.io/name": "loopwise-learner"}}}]


# --- issue 16 ---------------------------------------------------------------------------------

def test_a_namespace_manifest_creates_the_namespace_every_object_uses() -> None:
    """The manifests assumed a ``loopwise`` namespace that nothing created."""
    namespace = _one("namespace.yaml", "Namespace")["metadata"]["name"]
    for name in EXPECTED_KINDS:
        if name in ("namespace.yaml", "prometheus-scrape.yaml"):  # the latter: Prometheus's own
            continue
        for doc in _docs(name):
            assert doc["metadata"].get("namespace") == namespace, (name, doc["metadata"]["name"])
    toml = tomllib.loads(_one("learner-deployment.yaml", "ConfigMap")["data"]["learner.toml"])
    assert toml["fleet"]["dns"].endswith(f".{namespace}.svc.cluster.local")


def test_learner_config_map_sets_reference_dir_on_the_volume() -> None:
    """Without ``[registry] reference_dir`` drift was never evaluated, silently."""
    from learner.serve.config import RegistrySection

    toml = tomllib.loads(_one("learner-deployment.yaml", "ConfigMap")["data"]["learner.toml"])
    reference = RegistrySection(**toml["registry"]).reference_dir
    assert reference is not None and str(reference).startswith("/var/lib/loopwise/")
    dep = _one("learner-deployment.yaml", "Deployment")
    assert _mounts(_container(dep, "learner"))["/var/lib/loopwise"] == "data"


def test_learner_service_speaks_grpc_on_the_admin_port() -> None:
    from learner.cli import DEFAULT_ADDR

    port = int(DEFAULT_ADDR.rsplit(":", 1)[1])
    svc = _one("learner-service.yaml", "Service")
    (admin,) = [p for p in svc["spec"]["ports"] if p["name"] == "admin"]
    assert admin["port"] == port and admin["appProtocol"] == "grpc"
    learner = _container(_one("learner-deployment.yaml", "Deployment"), "learner")
    assert _ports(learner)["admin"] == port
    assert _env(learner)["LOOPWISE_LEARNER_ADMIN_ADDR"] == f"$(POD_IP):{port}"
    policy = [d for d in _docs("network-policy.yaml") if d["metadata"]["name"] == "loopwise-learner-admin"][0]
    assert {"port": port, "protocol": "TCP"} in policy["spec"]["ingress"][0]["ports"]
