"""veneer k8s: the manifests pass Kubernetes 1.33's schemas (strict) and agree with the server."""

from __future__ import annotations

import secrets

import jsonschema
import kubernetes_validate
import pytest
import yaml

from veneer.sidecar import k8s, k8s_pod
from veneer.sidecar.app import create_app
from veneer.wrapper.errors import ConfigError
from veneer.wrapper.schema.deployment import SCHEMA

from .conftest import SERVED, SIDECAR, write_config

K8S_VERSION = "1.33.0"


def validate_strict(doc: dict) -> None:
    """Fail on any schema error, unknown field or API version 1.33 does not know."""
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as e:
        pytest.fail(f"{doc['kind']} {doc['metadata']['name']} fails Kubernetes {K8S_VERSION}: {e}")


def pod(m: k8s.Manifests) -> dict:
    return m.by_kind("Deployment")["spec"]["template"]


def container(m: k8s.Manifests, name: str = "veneer") -> dict:
    return next(c for c in pod(m)["spec"]["containers"] if c["name"] == name)


def env_of(c: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}


SCENARIOS = {
    "served+hpa": (SERVED, "", {}),
    "served+namespace+no-metrics": (SERVED, "", {"namespace": "models", "name": "credit-api"}),
    "sidecar": (SIDECAR, "", {}),
    "sidecar+hpa+upstream-flag": (
        SIDECAR.replace("max_replicas: 1", "max_replicas: 4").replace(
            "legacy_health_path: /healthz}",
            "upstream_path: /score, legacy_resources: {requests: {cpu: 250m}}}"),
        "", {}),
    "auth-off+writable-root": (SERVED.replace("auth: {issuer: acme, audience: veneer, secret_env: "
                                              "VENEER_JWT_SECRET}", "auth: none"),
                               "  read_only_root: false\n  service_account: scorer\n", {}),
}


@pytest.fixture(params=sorted(SCENARIOS))
def scenario(request, tmp_path):
    text, extra, kwargs = SCENARIOS[request.param]
    config = write_config(tmp_path, text, extra)
    return config, k8s.build_manifests(config, **kwargs)


def test_every_object_passes_kubernetes_strict_schema(scenario):
    config, m = scenario
    text = k8s.render(m, source="veneer.yaml")
    docs = list(yaml.safe_load_all(text))
    assert [d["kind"] for d in docs] == [d["kind"] for d in m.docs]
    assert {d["kind"] for d in docs} >= {"Deployment", "Service"}
    for doc in docs:
        validate_strict(doc)


def test_service_and_hpa_point_at_this_deployment(scenario):
    config, m = scenario
    dep, svc = m.by_kind("Deployment"), m.by_kind("Service")
    selector = dep["spec"]["selector"]["matchLabels"]
    labels = pod(m)["metadata"]["labels"]
    assert selector.items() <= labels.items()
    assert svc["spec"]["selector"] == selector
    # the version label changes on upgrade; a selector holding it would orphan old pods
    assert "app.kubernetes.io/version" not in selector
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    assert svc["metadata"]["name"] == dep["metadata"]["name"]
    s = k8s.deployment_settings(config)
    if s["max_replicas"] > s["min_replicas"]:
        hpa = m.by_kind("HorizontalPodAutoscaler")
        ref = hpa["spec"]["scaleTargetRef"]
        target = ("apps/v1", "Deployment", dep["metadata"]["name"])
        assert (ref["apiVersion"], ref["kind"], ref["name"]) == target
        assert hpa["spec"]["minReplicas"] == s["min_replicas"]
        assert hpa["spec"]["maxReplicas"] == s["max_replicas"]
        # the HPA owns the count: re-applying must not reset a scaled Deployment
        assert "replicas" not in dep["spec"]
        for c in pod(m)["spec"]["containers"]:
            assert c["resources"]["requests"]["cpu"], f"{c['name']} has no CPU request for the HPA"
    else:
        with pytest.raises(KeyError):
            m.by_kind("HorizontalPodAutoscaler")
        assert dep["spec"]["replicas"] == s["replicas"]


def test_probe_and_metrics_paths_are_routes_of_the_server(scenario, monkeypatch):
    config, m = scenario
    for var in ("VENEER_JWT_SECRET", "SCORING_JWT_KEY"):  # the app checks its key source at build
        monkeypatch.setenv(var, secrets.token_urlsafe(48))
    urls = create_app(config, load=False).url_map.bind("localhost")
    c = container(m)
    paths = [c[p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe", "readinessProbe")]
    assert paths == [k8s.LIVE_PATH, k8s.LIVE_PATH, k8s.READY_PATH]
    annotations = pod(m)["metadata"]["annotations"]
    if config.server.metrics:
        paths.append(annotations["prometheus.io/path"])
        assert annotations["prometheus.io/port"] == str(config.server.port)
    for path in paths:
        urls.match(path, method="GET")  # raises NotFound / MethodNotAllowed if the server lacks it
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["http"] == config.server.port == int(env_of(c)["VENEER_PORT"])
    assert env_of(c)["VENEER_HOST"] == "0.0.0.0"


def test_grace_period_covers_prestop_and_gunicorn_graceful_timeout(scenario):
    config, m = scenario
    spec, c = pod(m)["spec"], container(m)
    graceful = int(env_of(c)["VENEER_GRACEFUL_TIMEOUT"])
    assert graceful == config.server.graceful_timeout
    pause = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pause == k8s.deployment_settings(config)["prestop_sleep_seconds"]
    assert spec["terminationGracePeriodSeconds"] >= pause + graceful + k8s.GRACE_MARGIN_SECONDS
    if config.deployment.get("sidecar"):
        legacy = container(m, "legacy")
        legacy_pause = legacy["lifecycle"]["preStop"]["sleep"]["seconds"]
        # the legacy service outlives veneer's drain, and both end inside the grace period
        assert pause + graceful <= legacy_pause < spec["terminationGracePeriodSeconds"]


def test_token_secret_is_a_reference_and_never_a_value(tmp_path, monkeypatch):
    monkeypatch.setenv("VENEER_JWT_SECRET", "s3cr3t-value-that-must-not-leak-0123456789")
    config = write_config(tmp_path, SERVED, "  secret_name: credit-jwt\n  secret_key: hs256\n")
    m = k8s.build_manifests(config)
    text = k8s.render(m)
    assert "s3cr3t-value" not in text
    ref = {"secretKeyRef": {"name": "credit-jwt", "key": "hs256"}}
    assert env_of(container(m))["VENEER_JWT_SECRET"] == ref
    default = k8s.build_manifests(write_config(tmp_path, SIDECAR))
    assert env_of(container(default))["SCORING_JWT_KEY"] == {
        "secretKeyRef": {"name": "veneer-legacy-auth", "key": "jwt-secret"}}


def test_pod_runs_non_root_with_writable_dirs_only_where_the_image_writes(served_config):
    m = k8s.build_manifests(served_config)
    c, spec = container(m), pod(m)["spec"]
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] and sc["runAsUser"] == k8s_pod.UID and sc["readOnlyRootFilesystem"]
    assert sc["capabilities"] == {"drop": ["ALL"]} and sc["allowPrivilegeEscalation"] is False
    assert spec["automountServiceAccountToken"] is False
    mounts = {v["name"]: v["mountPath"] for v in c["volumeMounts"]}
    assert sorted(mounts.values()) == ["/home/veneer", "/tmp"]
    assert {v["name"] for v in spec["volumes"]} == set(mounts)


def test_sidecar_pod_has_legacy_container_unchanged_and_veneer_in_front(sidecar_config):
    m = k8s.build_manifests(sidecar_config)
    names = [c["name"] for c in pod(m)["spec"]["containers"]]
    assert names == ["legacy", "veneer"]
    legacy = container(m, "legacy")
    assert legacy["image"] == "acme/scoring:2014" and "command" not in legacy and "args" not in legacy
    assert legacy["ports"] == [{"name": "legacy", "containerPort": 9100, "protocol": "TCP"}]
    assert legacy["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "legacy"}
    assert "args" not in container(m)  # the image's default command serves the config's http model
    assert pod(m)["metadata"]["labels"]["app.kubernetes.io/component"] == "sidecar"
    assert pod(m)["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"] == "veneer"
    flag = k8s.build_manifests(write_config(sidecar_config.source.parent, SIDECAR.replace(
        "legacy_health_path: /healthz}", "upstream_path: /v1/score}")))
    assert container(flag)["args"] == ["veneer", "sidecar", "--config", "/models/veneer.yaml",
                                       "--upstream", "http://127.0.0.1:9100/v1/score"]
    assert "readinessProbe" not in container(flag, "legacy")


def test_cli_overrides_write_a_multi_document_file(tmp_path, capsys):
    from veneer.sidecar.cli import main

    write_config(tmp_path, SERVED)
    out = tmp_path / "k8s.yaml"
    code = main(["k8s", str(tmp_path / "veneer.yaml"), "--out", str(out), "--image", "acme/credit:8",
                 "--legacy-image", "acme/scoring:1", "--namespace", "ml"])
    assert code == 2  # the served config has no http model calling the legacy port
    assert "no http model of this config calls http://127.0.0.1:9000" in capsys.readouterr().err
    assert main(["k8s", str(tmp_path / "veneer.yaml"), "-o", str(out), "--image", "acme/credit:8",
                 "-n", "ml"]) == 0
    docs = list(yaml.safe_load_all(out.read_text()))
    assert [d["kind"] for d in docs] == ["Deployment", "Service", "HorizontalPodAutoscaler"]
    assert {d["metadata"]["namespace"] for d in docs} == {"ml"}
    assert docs[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "acme/credit:8"
    assert "wrote Deployment, Service, HorizontalPodAutoscaler" in capsys.readouterr().err


@pytest.mark.parametrize("extra, path, needle", [
    ("  termination_grace_seconds: 20\n", "deployment.termination_grace_seconds", "at least 35"),
    ("  env: {VENEER_PORT: 9999}\n", "deployment.env.VENEER_PORT", "server.port"),
    ("  resources: {requests: {cpu: null}}\n", "deployment.resources.requests.cpu", "CPU request"),
])
def test_manifests_that_could_not_work_are_refused_with_the_key_and_fix(tmp_path, extra, path, needle):
    config = write_config(tmp_path, SERVED, extra)
    with pytest.raises(ConfigError) as e:
        k8s.build_manifests(config)
    assert e.value.key_path == path
    assert needle in str(e.value)


def test_private_health_and_missing_legacy_image_are_refused(tmp_path):
    private = write_config(tmp_path, SERVED.replace("server: {", "server: {public_health: false, "))
    with pytest.raises(ConfigError, match="probes cannot send one"):
        k8s.build_manifests(private)
    with pytest.raises(ConfigError, match="needs the legacy service's image"):
        k8s.build_manifests(write_config(tmp_path, SERVED), sidecar=True)
    moved = write_config(tmp_path, SIDECAR.replace("legacy_port: 9100", "legacy_port: 9200"))
    with pytest.raises(ConfigError, match="listens on port 9200"):
        k8s.build_manifests(moved)
    supervised = write_config(tmp_path, SIDECAR.replace(
        'url: "http://127.0.0.1:9100/score"}', 'url: "http://127.0.0.1:9100/score", '
        'options: {command: [python, service.py]}}'))
    with pytest.raises(ConfigError) as e:
        k8s.build_manifests(supervised)
    assert e.value.key_path == "models.churn.versions[0].options.command"


def test_quantity_typos_the_kubernetes_schema_accepts_are_config_errors(tmp_path):
    with pytest.raises(ConfigError) as e:
        write_config(tmp_path, SERVED, "  resources: {limits: {memory: 512MBytes}}\n")
    assert e.value.key_path == "deployment.resources.limits.memory"
    assert "512MBytes" in str(e.value)


def _walk(prop: dict, where: str, required: bool = False):
    yield where, prop, required
    for key, sub in prop.get("properties", {}).items():
        yield from _walk(sub, f"{where}.{key}", key in prop.get("required", ()))


def test_deployment_schema_documents_and_defaults_every_property():
    for where, prop, required in _walk(SCHEMA, "deployment"):
        assert prop.get("description"), f"{where} has no description"
        if required:  # a required key has no default by definition
            continue
        assert "default" in prop, f"{where} has no default"
        jsonschema.Draft202012Validator(prop).validate(prop["default"])
        if "properties" in prop:
            assert prop.get("additionalProperties") is False, f"{where} accepts unknown keys"
