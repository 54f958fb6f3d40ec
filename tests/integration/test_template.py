"""The deployable stack: `serverless package` offline, cfn-lint, and what the template promises."""

from __future__ import annotations

import fcntl
import json
import math
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from benchmarks import cold_start_bench
from nebulastream.alerts.rules import Rule
from nebulastream.lake.layout import (
    CURATED,
    LEASE,
    MANIFEST,
    QUARANTINE,
    RAW,
    RAW_BOUND,
    REPORTS,
)
from nebulastream.models import RAW_COLUMNS
from nebulastream.schema import CURATED_COLUMNS, PARTITION_COLUMN
from nebulastream.settings import Settings
from scripts import bytecode, cost, curation_layer, glue_assets

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serverless")]

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test-artifacts" / "serverless-ci"
STAGE = "ci"
PREFIX = f"nebula-stream-{STAGE}-"
# The code and its dependencies, with their bytecode (scripts/bytecode.py): about 11.5 MB.
ZIP_LIMIT = 16 * 1024 * 1024
RUNTIME = "python3.12"  # the functions' runtime: the bytecode in the zip is for it
CFN_LINT = str(Path(sys.executable).with_name("cfn-lint"))


@dataclass(frozen=True)
class Package:
    template: dict[str, Any]
    path: Path

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.template["Resources"]
        return resources

    def props(self, logical_id: str) -> dict[str, Any]:
        props: dict[str, Any] = self.resources[logical_id]["Properties"]
        return props

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: v["Properties"] for k, v in self.resources.items() if v["Type"] == kind}


def _offline_env() -> dict[str, str]:
    """Fake credentials and no AWS config: packaging must not need (or reach) an account."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE",
        AWS_SECRET_ACCESS_KEY="fake-secret-for-offline-packaging",
        AWS_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        SLS_TELEMETRY_DISABLED="1",
        SLS_NOTIFICATIONS_MODE="off",
        # The Glue-assets plugin and the requirements plugin run this interpreter.
        NEBULA_DEPLOY_PYTHON=sys.executable,
    )
    return env


def _run_id() -> str:
    """Shared by every xdist worker of one pytest run; unique per run."""
    return os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid-{os.getpid()}"


@pytest.fixture(scope="module")
def package() -> Package:
    """One `serverless package --stage ci` per test run, into test-artifacts/serverless-ci/.

    A file lock, not only the xdist group, makes that once: whichever worker gets here first
    packages, the others wait and reuse its output (two packagings in one folder collide).
    """
    if not (ROOT / "node_modules" / ".bin" / "serverless").exists():
        pytest.fail("node_modules is missing: run `make test` (it runs `npm ci`) or `make node`.")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    stamp = OUT / ".run-id"
    with (OUT.parent / "serverless-ci.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (stamp.is_file() and stamp.read_text() == _run_id()):
            shutil.rmtree(OUT, ignore_errors=True)
            command = ["npx", "--no-install", "serverless", "package", "--stage", STAGE]
            command += ["--region", "us-east-1", "--package", str(OUT)]
            done = subprocess.run(
                command, cwd=ROOT, env=_offline_env(), capture_output=True, text=True, timeout=600
            )
            assert done.returncode == 0, f"serverless package failed:\n{done.stdout}\n{done.stderr}"
            stamp.write_text(_run_id())
    template = json.loads((OUT / "cloudformation-template-update-stack.json").read_text())
    return Package(template, OUT)


# -- helpers -------------------------------------------------------------------------------


def _statements(policy: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every statement of a policy document, both branches of an Fn::If included."""
    for item in policy["Statement"]:
        yield from _branches(item)


def _branches(item: Any) -> Iterator[dict[str, Any]]:
    if isinstance(item, dict) and "Fn::If" in item:
        for branch in item["Fn::If"][1:]:
            yield from _branches(branch)
    elif isinstance(item, dict) and item != {"Ref": "AWS::NoValue"}:
        yield item


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _iam_statements(package: Package) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, props in package.of_type("AWS::IAM::Role").items():
        for policy in props.get("Policies", []):
            for statement in _statements(policy["PolicyDocument"]):
                yield logical_id, statement
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for logical_id, props in package.of_type(kind).items():
            for statement in _statements(props["PolicyDocument"]):
                yield logical_id, statement


def _sub(value: Any) -> str:
    """The text of a plain string or an Fn::Sub, for asserting on ARNs and locations."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = value["Fn::Sub"]
        return str(text if isinstance(text, str) else text[0])
    return str(value)


def _role_of(package: Package, function_id: str) -> str:
    role = package.props(function_id)["Role"]
    assert set(role) == {"Fn::GetAtt"}, role
    return str(role["Fn::GetAtt"][0])


def _allowed(package: Package, role_id: str) -> list[tuple[str, str]]:
    """(action, resource text) pairs a role allows, both KMS branches included."""
    pairs = []
    # Policies attached as their own resources (AWS::IAM::Policy, e.g. resources/alerts.yml).
    attached = {
        logical_id
        for logical_id, props in package.of_type("AWS::IAM::Policy").items()
        if {"Ref": role_id} in props.get("Roles", [])
    }
    for logical_id, statement in _iam_statements(package):
        if logical_id in (role_id, *attached) and statement["Effect"] == "Allow":
            for action in _as_list(statement["Action"]):
                for resource in _as_list(statement["Resource"]):
                    pairs.append((action, json.dumps(resource)))
    return pairs


# -- packaging and lint --------------------------------------------------------------------


def test_cfn_lint_reports_no_errors_on_the_packaged_template(package: Package) -> None:
    template = package.path / "cloudformation-template-update-stack.json"
    done = subprocess.run(
        [CFN_LINT, "--non-zero-exit-code", "error", str(template)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"cfn-lint found errors:\n{done.stdout}\n{done.stderr}"


def test_lambda_zip_holds_the_code_and_linux_wheels_but_no_junk(package: Package) -> None:
    artifact = package.path / "nebula-stream.zip"
    assert artifact.stat().st_size <= ZIP_LIMIT
    names = zipfile.ZipFile(artifact).namelist()
    tops = {name.split("/")[0] for name in names}
    assert {"handlers", "nebulastream", "fastapi", "mangum", "pydantic_core", "pyathena"} <= tops
    assert "handlers/fetch.py" in names
    assert "handlers/api.py" in names
    # The dashboard ships with the API, its chart library included (built by `make install`).
    assert {"api/static/index.html", "api/static/vendor/uPlot.iife.min.js"} <= set(names)
    # So does /docs' Swagger UI: nothing is loaded from a CDN.
    assert {"api/static/docs/index.html", "api/static/docs/vendor/swagger-ui-bundle.js"} <= set(
        names
    )
    # boto3 and friends come with the Lambda runtime; dev folders never ship.
    forbidden = {"boto3", "botocore", "s3transfer", "tests", "node_modules", "docs", "data"}
    forbidden |= {"benchmarks", "glue", "scripts", ".venv", ".serverless", "test-artifacts"}
    assert not tops & forbidden
    # Bytecode only as scripts/bytecode.py adds it: for the runtime, beside its source.
    compiled = {bytecode.cache_name(n, RUNTIME) for n in names if n.endswith(".py")}
    junk = [n for n in names if n.endswith((".pyc", ".pyo")) and n not in compiled]
    junk += [n for n in names if "/tests/" in n or n.startswith("bin/")]
    assert not junk
    # Wheels for the Lambda's platform (CPython 3.12, x86_64), not for this machine.
    native = [n for n in names if n.endswith(".so")]
    assert native
    assert all("cpython-312-x86_64-linux-gnu" in n for n in native), native


# Imports the handlers from the unpacked zip and names every module the import system had to
# compile from source (importlib only calls source_to_code when there is no usable bytecode).
COMPILED_FROM_SOURCE = """
import importlib.machinery, json, sys
compiled = []
original = importlib.machinery.SourceFileLoader.source_to_code
def record(self, data, path, *args, **kwargs):
    compiled.append(str(path))
    return original(self, data, path, *args, **kwargs)
importlib.machinery.SourceFileLoader.source_to_code = record
import handlers.api, handlers.fetch, handlers.heal
import fastapi
print(json.dumps({"compiled": compiled, "fastapi_cached": fastapi.__cached__}))
"""


def test_the_package_carries_bytecode_so_cold_starts_compile_nothing(
    package: Package, tmp_path: Path
) -> None:
    assert {p["Runtime"] for p in package.of_type("AWS::Lambda::Function").values()} == {RUNTIME}
    python = bytecode.find_python(RUNTIME)
    if python is None:
        pytest.skip("no CPython 3.12 here: the package ships sources only (docs/deploy.md)")
    archive = zipfile.ZipFile(package.path / "nebula-stream.zip")
    names = set(archive.namelist())
    sources = {n for n in names if n.endswith(".py")}
    assert sources
    missing = [n for n in sources if bytecode.cache_name(n, RUNTIME) not in names]
    assert not missing, f"{len(missing)} modules without bytecode, e.g. {missing[:3]}"
    task, runtime = tmp_path / "task", tmp_path / "runtime"
    archive.extractall(task)
    runtime.mkdir()
    cold_start_bench.runtime_dir(runtime)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env |= {"PYTHONPATH": f"{task}{os.pathsep}{runtime}", "PYTHONDONTWRITEBYTECODE": "1"}
    env |= {"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}  # as Lambda sets
    done = subprocess.run(
        [python, "-c", COMPILED_FROM_SOURCE], env=env, cwd=task, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    ours = [p for p in found["compiled"] if p.startswith(str(task))]
    assert ours == [], f"compiled at import although packaged: {ours[:5]}"
    assert found["fastapi_cached"].startswith(str(task))
    assert Path(found["fastapi_cached"]).is_file()


def test_glue_assets_are_built_for_the_hash_in_the_template(package: Package) -> None:
    manifest = json.loads((package.path / "glue" / "manifest.json").read_text())
    assert manifest["hash"] == glue_assets.content_hash(ROOT)
    names = zipfile.ZipFile(package.path / "glue" / glue_assets.ZIP_NAME).namelist()
    assert "nebulastream/schema.py" in names
    assert all(n.startswith("nebulastream/") and "__pycache__" not in n for n in names)
    script = ROOT / glue_assets.SCRIPT
    assert (package.path / "glue" / "curate_job.py").is_file() == script.is_file()


# -- functions -----------------------------------------------------------------------------


def test_fetcher_runs_every_fetch_interval_within_a_minute_with_retries_and_a_dlq(
    package: Package,
) -> None:
    rules = [
        p
        for p in package.of_type("AWS::Events::Rule").values()
        if {"Fn::GetAtt": ["FetchLambdaFunction", "Arn"]} in [t["Arn"] for t in p["Targets"]]
    ]
    assert [r["ScheduleExpression"] for r in rules] == ["rate(5 minutes)"]
    assert cost.monthly_runs("rate(5 minutes)") * Settings().fetch_interval_seconds == 730 * 3600
    fetch = package.props("FetchLambdaFunction")
    assert fetch["Timeout"] <= 60
    assert fetch["ReservedConcurrentExecutions"] == 1
    [invoke] = [
        p
        for p in package.of_type("AWS::Lambda::EventInvokeConfig").values()
        if p["FunctionName"] == {"Ref": "FetchLambdaFunction"}
    ]
    assert 1 <= invoke["MaximumRetryAttempts"] <= 2
    destination = invoke["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination == {"Fn::GetAtt": ["FetchFailureQueue", "Arn"]}


def test_api_is_a_catch_all_http_api_route_to_the_api_handler(package: Package) -> None:
    api = package.props("ApiLambdaFunction")
    assert api["Handler"] == "handlers/api.handler"
    [route] = package.of_type("AWS::ApiGatewayV2::Route").values()
    assert route["RouteKey"] == "$default"
    stage = package.props("HttpApiStage")["DefaultRouteSettings"]
    assert stage["ThrottlingRateLimit"] > 0
    assert stage["ThrottlingBurstLimit"] > 0


def test_functions_run_a_supported_python_and_set_only_settings_variables(
    package: Package,
) -> None:
    names = {"NEBULA_" + name.upper() for name in Settings.model_fields}
    for function_id in ("FetchLambdaFunction", "ApiLambdaFunction", "CurateLambdaFunction"):
        props = package.props(function_id)
        runtime = re.fullmatch(r"python(\d)\.(\d+)", props["Runtime"])
        assert runtime, props["Runtime"]
        assert (int(runtime[1]), int(runtime[2])) >= (3, 12)
        variables = props["Environment"]["Variables"]
        assert set(variables) <= names, set(variables) - names
        assert _sub(variables["NEBULA_LAKE_URI"]) == "s3://${DataBucket}"
        # Coins beyond the built-in ones reach both functions (deploy param coinIds).
        assert variables["NEBULA_COINS"] == "BTC,ETH,SOL"
        assert json.loads(variables["NEBULA_COIN_IDS"]) == {}
    api = package.props("ApiLambdaFunction")["Environment"]["Variables"]
    assert api["NEBULA_ENGINE"] == "athena"
    assert api["NEBULA_ATHENA_WORKGROUP"] == {"Ref": "AthenaWorkGroup"}
    assert api["NEBULA_GLUE_DATABASE"] == {"Ref": "GlueDatabase"}
    # The table names the API is told are the ones the catalog declares.
    for variable, table_id in (
        ("NEBULA_CURATED_TABLE", "CuratedTable"),
        ("NEBULA_RAW_TABLE", "RawTable"),
    ):
        assert api[variable] == {"Ref": table_id}


def test_every_named_resource_carries_service_and_stage(package: Package) -> None:
    name_keys = ("FunctionName", "RoleName", "QueueName", "TopicName", "AlarmName", "Name")
    named = 0
    for logical_id, resource in package.resources.items():
        if resource["Type"].startswith(("AWS::Athena::NamedQuery", "AWS::Glue::Table")):
            continue  # saved queries and tables live inside the workgroup / database
        for key in name_keys:
            value = resource.get("Properties", {}).get(key)
            if isinstance(value, str):
                assert value.startswith(PREFIX), (logical_id, value)
                named += 1
    assert named >= 15
    bucket = _sub(package.props("DataBucket")["BucketName"])
    assert bucket.startswith(f"{PREFIX}data-${{AWS::AccountId}}")


# -- the hourly curate function -----------------------------------------------------------

LAMBDA_UNZIPPED_LIMIT = 250 * 1024**2


def _unzipped(path: Path) -> int:
    return sum(info.file_size for info in zipfile.ZipFile(path).infolist())


def test_curate_runs_hourly_one_at_a_time_on_its_layer(package: Package) -> None:
    curate = package.props("CurateLambdaFunction")
    assert curate["Handler"] == "handlers/curate.handler"
    assert curate["ReservedConcurrentExecutions"] == 1
    assert curate["Timeout"] <= 900
    assert curate["Layers"] == [{"Ref": "CurationEngineLayer"}]
    rules = [
        p
        for p in package.of_type("AWS::Events::Rule").values()
        if {"Fn::GetAtt": ["CurateLambdaFunction", "Arn"]} in [t["Arn"] for t in p["Targets"]]
    ]
    [rule] = rules
    assert cost.monthly_runs(rule["ScheduleExpression"]) == pytest.approx(730)
    [invoke] = [
        p
        for p in package.of_type("AWS::Lambda::EventInvokeConfig").values()
        if p["FunctionName"] == {"Ref": "CurateLambdaFunction"}
    ]
    assert invoke["MaximumRetryAttempts"] == 0  # the next hour's run is the retry


def test_curate_code_and_layer_fit_lambdas_unzipped_limit(package: Package) -> None:
    layer = package.props("CurationEngineLayer")
    assert layer["CompatibleRuntimes"] == [package.props("CurateLambdaFunction")["Runtime"]]
    key = layer["Content"]["S3Key"]
    assert f"/layers/{curation_layer.content_hash()}/{curation_layer.ZIP_NAME}" in key
    artifact = package.path / "curation-layer" / curation_layer.ZIP_NAME
    names = set(zipfile.ZipFile(artifact).namelist())
    assert {"python/duckdb/__init__.py", "python/pyarrow/__init__.py"} <= names
    assert not any(
        n.startswith(("python/pyarrow/include/", "python/pyarrow/tests/")) for n in names
    )
    code, engine = _unzipped(package.path / "nebula-stream.zip"), _unzipped(artifact)
    assert code + engine <= LAMBDA_UNZIPPED_LIMIT
    # The API and the fetcher do not carry the engine.
    tops = {n.split("/")[0] for n in zipfile.ZipFile(package.path / "nebula-stream.zip").namelist()}
    assert not tops & {"duckdb", "pyarrow"}


def test_curate_role_reads_raw_and_writes_only_curation_outputs(package: Package) -> None:
    role = _role_of(package, "CurateLambdaFunction")
    assert role not in (
        _role_of(package, "FetchLambdaFunction"),
        _role_of(package, "ApiLambdaFunction"),
    )
    allowed = _allowed(package, role)

    def prefixes(action: str) -> set[str]:
        return {r for a, r in allowed if a == action}

    def objects(*names: str) -> set[str]:
        return {json.dumps({"Fn::Sub": f"${{DataBucket.Arn}}/{name}*"}) for name in names}

    outputs = (CURATED, QUARANTINE, REPORTS)
    assert prefixes("s3:GetObject") == objects(RAW, *outputs)
    assert prefixes("s3:PutObject") == objects(*outputs)
    assert prefixes("s3:DeleteObject") == objects(*outputs)
    # The manifest and the lease the Glue job shares live under reports/.
    assert MANIFEST.startswith(REPORTS) and LEASE.startswith(REPORTS)
    [listing] = [
        s
        for logical_id, s in _iam_statements(package)
        if logical_id == role and s.get("Action") == "s3:ListBucket"
    ]
    listed = set(listing["Condition"]["StringLike"]["s3:prefix"])
    assert listed == {p.rstrip("/") for p in (RAW, *outputs)} | {f"{p}*" for p in (RAW, *outputs)}
    kms = {r for a, r in allowed if a.startswith("kms:")}
    assert kms == {json.dumps({"Fn::GetAtt": ["DataKey", "Arn"]})}


def test_failed_hourly_runs_raise_an_alarm_that_names_the_raw_safety_net(package: Package) -> None:
    alarm = package.props("CurateErrorsAlarm")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", "Errors")
    assert alarm["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": "CurateLambdaFunction"}}
    ]
    assert alarm["Period"] * alarm["EvaluationPeriods"] == 2 * 3600
    assert "NEBULA_RAW_LOOKBACK_DAYS" in alarm["AlarmDescription"]
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


# -- storage -------------------------------------------------------------------------------


def test_bucket_is_kms_encrypted_private_tls_only_versioned_and_owner_enforced(
    package: Package,
) -> None:
    bucket = package.props("DataBucket")
    [rule] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["BucketKeyEnabled"] is True
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert package.resources["DataBucket"]["DeletionPolicy"] == "Retain"
    [policy] = [
        p
        for p in package.of_type("AWS::S3::BucketPolicy").values()
        if p["Bucket"] == {"Ref": "DataBucket"}
    ]
    [deny] = policy["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == "*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [
        {"Fn::GetAtt": ["DataBucket", "Arn"]},
        {"Fn::Sub": "${DataBucket.Arn}/*"},
    ]


def test_lifecycle_moves_old_raw_and_expires_results_quarantine_and_old_versions(
    package: Package,
) -> None:
    rules = {r["Id"]: r for r in package.props("DataBucket")["LifecycleConfiguration"]["Rules"]}
    assert all(r["Status"] == "Enabled" for r in rules.values())
    raw = rules["raw-to-infrequent-access"]
    assert raw["Prefix"] == "raw/"
    assert raw["Transitions"][0]["StorageClass"] in {
        "STANDARD_IA",
        "GLACIER_IR",
        "INTELLIGENT_TIERING",
    }
    assert rules["expire-athena-results"]["Prefix"] == "athena-results/"
    assert rules["expire-athena-results"]["ExpirationInDays"] <= 30
    assert rules["expire-quarantine"]["Prefix"] == "quarantine/"
    assert rules["expire-old-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] > 0


def test_customer_key_option_rotates_and_is_what_bucket_and_workgroup_use(
    package: Package,
) -> None:
    key = package.resources["DataKey"]
    assert key["Condition"] == "UseCustomerKey"
    assert key["Properties"]["EnableKeyRotation"] is True
    mode = package.template["Parameters"]["KmsKeyMode"]
    assert set(mode["AllowedValues"]) == {"aws-managed", "customer"}
    [rule] = package.props("DataBucket")["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    key_id = rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]
    assert key_id == {
        "Fn::If": ["UseCustomerKey", {"Fn::GetAtt": ["DataKey", "Arn"]}, {"Ref": "AWS::NoValue"}]
    }


# -- IAM -----------------------------------------------------------------------------------


def test_no_iam_statement_allows_any_resource_or_any_action_of_a_service(package: Package) -> None:
    statements = list(_iam_statements(package))
    assert len(statements) >= 15
    for logical_id, statement in statements:
        if statement["Effect"] != "Allow":
            continue
        for resource in _as_list(statement["Resource"]):
            assert resource != "*", (logical_id, statement)
        for action in _as_list(statement["Action"]):
            assert "*" not in action, (logical_id, action)
    for props in package.of_type("AWS::IAM::Role").values():
        assert not props.get("ManagedPolicyArns"), "managed policies are broader than the job"


def test_each_function_has_its_own_role_scoped_to_its_prefixes(package: Package) -> None:
    fetch_role = _role_of(package, "FetchLambdaFunction")
    api_role = _role_of(package, "ApiLambdaFunction")
    assert fetch_role != api_role
    assert "IamRoleLambdaExecution" not in package.resources  # no shared default role

    fetch = _allowed(package, fetch_role)
    # The fetcher writes raw batches and alert state; it reads what alert queries read.
    writes = {r for a, r in fetch if a == "s3:PutObject"}
    assert writes == {
        json.dumps({"Fn::Sub": f"${{DataBucket.Arn}}/{prefix}/*"})
        for prefix in ("raw", "alerts", "athena-results")
    }
    reads = {r for a, r in fetch if a == "s3:GetObject"}
    assert reads == {
        json.dumps({"Fn::Sub": "${DataBucket.Arn}/alerts.yml"}),
        *(
            json.dumps({"Fn::Sub": f"${{DataBucket.Arn}}/{prefix}/*"})
            for prefix in ("alerts", "raw", "curated", "athena-results")
        ),
    }
    assert not any(a in ("s3:DeleteObject", "s3:*") for a, _ in fetch)

    api = _allowed(package, api_role)
    objects = {r for a, r in api if a in ("s3:GetObject", "s3:PutObject")}
    assert objects == {
        json.dumps({"Fn::Sub": "${DataBucket.Arn}/alerts.yml"}),
        *(
            json.dumps({"Fn::Sub": f"${{DataBucket.Arn}}/{prefix}/*"})
            for prefix in ("raw", "curated", "athena-results", "alerts")
        ),
    } | {json.dumps({"Fn::Sub": f"${{DataBucket.Arn}}/{RAW_BOUND}"})}
    writes = {r for a, r in api if a == "s3:PutObject"}
    assert writes == {json.dumps({"Fn::Sub": "${DataBucket.Arn}/athena-results/*"})}
    athena = {r for a, r in api if a.startswith("athena:")}
    assert len(athena) == 1
    assert "workgroup/${AthenaWorkGroup}" in athena.pop()
    glue = {r for a, r in api if a.startswith("glue:")}
    assert any("table/${GlueDatabase}/${CuratedTable}" in r for r in glue)
    assert any("table/${GlueDatabase}/${RawTable}" in r for r in glue)
    assert not any(a.startswith("glue:") and "Create" in a for a, _ in api)
    # With the customer key, both may use exactly that key, and only through S3 (the fetcher's
    # SSM decryption of the CoinGecko key: test_the_coingecko_key_is_a_securestring_...).
    for role_id in (fetch_role, api_role):
        kms = {
            json.dumps(s["Resource"])
            for logical_id, s in _iam_statements(package)
            if logical_id == role_id
            and any(a.startswith("kms:") for a in _as_list(s["Action"]))
            and s["Sid"] != "DecryptCoinGeckoKeyThroughSsm"
        }
        assert kms == {json.dumps({"Fn::GetAtt": ["DataKey", "Arn"]})}


PARAMETER_ARN = (
    "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}"
    ":parameter${CoinGeckoApiKeyParameter}"
)


def test_the_coingecko_key_is_a_securestring_read_at_run_time_never_in_the_environment(
    package: Package,
) -> None:
    text = json.dumps(package.template)
    assert "resolve:ssm" not in text  # CloudFormation no longer copies the key anywhere
    for function_id in ("FetchLambdaFunction", "ApiLambdaFunction"):
        assert (
            "NEBULA_COINGECKO_API_KEY" not in package.props(function_id)["Environment"]["Variables"]
        )
    fetch_env = package.props("FetchLambdaFunction")["Environment"]["Variables"]
    assert fetch_env["NEBULA_COINGECKO_API_KEY_PARAMETER"] == {
        "Fn::If": ["HasCoinGeckoKey", {"Ref": "CoinGeckoApiKeyParameter"}, {"Ref": "AWS::NoValue"}]
    }
    assert package.template["Parameters"]["CoinGeckoApiKeyParameter"]["AllowedPattern"].startswith(
        "^$|^/"
    )  # a full path, so the ARN below is the parameter's
    fetch_role = _role_of(package, "FetchLambdaFunction")
    statements = {
        s["Sid"]: s for logical_id, s in _iam_statements(package) if logical_id == fetch_role
    }
    read = statements["ReadCoinGeckoKey"]
    assert (read["Action"], _sub(read["Resource"])) == ("ssm:GetParameter", PARAMETER_ARN)
    decrypt = statements["DecryptCoinGeckoKeyThroughSsm"]
    assert decrypt["Action"] == "kms:Decrypt"
    only = decrypt["Condition"]["StringEquals"]
    assert _sub(only["kms:ViaService"]) == "ssm.${AWS::Region}.amazonaws.com"
    assert _sub(only["kms:EncryptionContext:PARAMETER_ARN"]) == PARAMETER_ARN
    # Only the fetcher may read parameters: this one, and the alert webhook's secret (its
    # alerts policy, test_alerts_fetcher_...); no other role reads any.
    ssm = [(r, s) for r, s in _iam_statements(package) if "ssm:" in json.dumps(s["Action"])]
    assert sorted(r for r, _ in ssm) == sorted([fetch_role, "FetchAlertsPolicy"])


def test_the_http_api_stage_writes_json_access_logs_kept_like_the_functions_logs(
    package: Package,
) -> None:
    settings = package.props("HttpApiStage")["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["HttpApiLogGroup", "Arn"]}
    line = json.loads(settings["Format"])
    assert line["requestId"] == "$context.requestId"  # = the API's X-Request-Id on AWS
    assert {"status", "path", "httpMethod", "ip", "integrationError"} <= set(line)
    retention = {
        logical_id: props["RetentionInDays"]
        for logical_id, props in package.of_type("AWS::Logs::LogGroup").items()
    }
    assert retention["HttpApiLogGroup"] == retention["FetchLogGroup"] == retention["ApiLogGroup"]


def test_glue_job_and_crawler_encrypt_logs_and_bookmarks_with_the_stacks_key(
    package: Package,
) -> None:
    [(config_id, config)] = package.of_type("AWS::Glue::SecurityConfiguration").items()
    assert package.props("CurateJob")["SecurityConfiguration"] == {"Ref": config_id}
    assert package.props("RawCrawler")["CrawlerSecurityConfiguration"] == {"Ref": config_id}
    encryption = config["EncryptionConfiguration"]
    key = {
        "Fn::If": ["UseCustomerKey", {"Fn::GetAtt": ["DataKey", "Arn"]}, {"Ref": "AWS::NoValue"}]
    }
    for part, mode_name, customer in (
        ("CloudWatchEncryption", "CloudWatchEncryptionMode", "SSE-KMS"),
        ("JobBookmarksEncryption", "JobBookmarksEncryptionMode", "CSE-KMS"),
    ):
        assert encryption[part][mode_name] == {"Fn::If": ["UseCustomerKey", customer, "DISABLED"]}
        assert encryption[part]["KmsKeyArn"] == key
    # S3 as the bucket's: the stack's key, or no header so the bucket's aws/s3 default applies.
    [s3] = encryption["S3Encryptions"]
    assert s3 == {"S3EncryptionMode": {"Fn::If": ["UseCustomerKey", "SSE-KMS", "DISABLED"]},
                  "KmsKeyArn": key}  # fmt: skip
    # The key lets CloudWatch Logs use it for Glue's log groups only.
    statements = package.props("DataKey")["KeyPolicy"]["Statement"]
    [logs] = [s for s in statements if s["Sid"] == "GlueLogsUseKey"]
    assert _sub(logs["Principal"]["Service"]) == "logs.${AWS::Region}.amazonaws.com"
    assert "log-group:/aws-glue/*" in _sub(
        logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    )


CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def test_checkov_finds_no_unencrypted_env_unlogged_stage_or_unsecured_glue(
    package: Package,
) -> None:
    if not CHECKOV.exists():
        pytest.fail("checkov is missing: `make install` builds .venv-checkov.")
    checks = ("CKV_AWS_95", "CKV_AWS_173", "CKV_AWS_195")
    template = package.path / "cloudformation-template-update-stack.json"
    done = subprocess.run(
        [str(CHECKOV), "-f", str(template), "--framework", "cloudformation", "--check",
         ",".join(checks), "--skip-download", "--output", "json"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )  # fmt: skip
    report = json.loads(done.stdout) if done.stdout.strip() else {}
    results = report.get("results", {}) if isinstance(report, dict) else {}
    failed = [(c["check_id"], c["resource"]) for c in results.get("failed_checks", [])]
    passed = {c["check_id"] for c in results.get("passed_checks", [])}
    assert failed == [], failed
    assert passed == set(checks), (done.stdout[-2000:], done.stderr[-2000:])


def test_glue_roles_read_raw_and_write_only_their_outputs(package: Package) -> None:
    job = package.props("CurateJob")
    job_role = job["Role"]["Fn::GetAtt"][0]
    writes = {r for a, r in _allowed(package, job_role) if a in ("s3:PutObject", "s3:DeleteObject")}
    outputs = ("curated", "quarantine", "reports")
    assert writes == {
        json.dumps({"Fn::Sub": f"${{DataBucket.Arn}}/{prefix}{suffix}"})
        for prefix in outputs
        for suffix in ("/*", "_$folder$")
    }
    crawler_role = package.props("RawCrawler")["Role"]["Fn::GetAtt"][0]
    crawler = _allowed(package, crawler_role)
    assert not any(a in ("s3:PutObject", "s3:DeleteObject") for a, _ in crawler)
    table_grants = {r for a, r in crawler if a == "glue:UpdateTable"}
    assert table_grants
    assert all("discovered_*" in r for r in table_grants if "table/" in r)


# -- catalog -------------------------------------------------------------------------------


def _table(package: Package, logical_id: str) -> dict[str, Any]:
    table: dict[str, Any] = package.props(logical_id)["TableInput"]
    return table


@pytest.mark.parametrize(
    ("logical_id", "prefix", "columns", "settings_name"),
    [
        ("CuratedTable", "curated", CURATED_COLUMNS, "curated_table"),
        ("RawTable", "raw", RAW_COLUMNS, "raw_table"),
    ],
)
def test_tables_match_the_python_schema_and_project_dt_partitions(
    package: Package, logical_id: str, prefix: str, columns: dict[str, str], settings_name: str
) -> None:
    table = _table(package, logical_id)
    assert table["Name"] == Settings.model_fields[settings_name].default
    described = {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}
    assert list(described.items()) == list(columns.items())
    assert table["PartitionKeys"] == [{"Name": PARTITION_COLUMN, "Type": "string"}]
    params = table["Parameters"]
    assert params["projection.enabled"] == "true"
    assert params[f"projection.{PARTITION_COLUMN}.type"] == "date"
    assert params[f"projection.{PARTITION_COLUMN}.format"] == "yyyy-MM-dd"
    assert params[f"projection.{PARTITION_COLUMN}.range"].endswith(",NOW")
    template = _sub(params["storage.location.template"])
    assert template == f"s3://${{DataBucket}}/{prefix}/{PARTITION_COLUMN}=${{!{PARTITION_COLUMN}}}/"
    assert _sub(table["StorageDescriptor"]["Location"]) == f"s3://${{DataBucket}}/{prefix}/"


def test_table_formats_are_parquet_for_curated_and_openx_json_for_raw(package: Package) -> None:
    curated = _table(package, "CuratedTable")["StorageDescriptor"]["SerdeInfo"]
    raw = _table(package, "RawTable")["StorageDescriptor"]["SerdeInfo"]
    assert curated["SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert raw["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    # One malformed line must not fail every API query that reads recent raw.
    assert raw["Parameters"]["ignore.malformed.json"] == "true"


def test_partition_format_in_the_catalog_is_the_one_python_writes() -> None:
    from nebulastream.schema import PARTITION_FORMAT

    # Java's yyyy-MM-dd in the projection is Python's %Y-%m-%d in the layout.
    assert PARTITION_FORMAT == "%Y-%m-%d"


# -- Glue ----------------------------------------------------------------------------------


def test_crawler_uses_a_cron_schedule_and_never_rewrites_declared_tables(package: Package) -> None:
    crawler = package.props("RawCrawler")
    expression = crawler["Schedule"]["ScheduleExpression"]
    assert re.fullmatch(r"cron\((\S+ ){5}\S+\)", expression), expression
    assert cost.monthly_runs(expression) <= 5  # each run bills >= 10 minutes
    assert crawler["TablePrefix"] == "discovered_"
    assert crawler["SchemaChangePolicy"] == {"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"}
    assert [_sub(t["Path"]) for t in crawler["Targets"]["S3Targets"]] == ["s3://${DataBucket}/raw/"]


def test_glue_job_is_glue_5_spark_with_the_manifest_as_its_only_bookmark(package: Package) -> None:
    job = package.props("CurateJob")
    assert job["GlueVersion"] == "5.0"
    assert job["Command"]["Name"] == "glueetl"
    assert (job["WorkerType"], job["NumberOfWorkers"]) == ("G.1X", 2)
    assets = f"s3://${{ServerlessDeploymentBucket}}/serverless/nebula-stream/{STAGE}/glue/"
    assets += glue_assets.content_hash(ROOT)
    assert _sub(job["Command"]["ScriptLocation"]) == f"{assets}/curate_job.py"
    args = job["DefaultArguments"]
    assert _sub(args["--extra-py-files"]) == f"{assets}/{glue_assets.ZIP_NAME}"
    assert _sub(args["--lake_uri"]) == "s3://${DataBucket}"
    # The lake's manifest is the one record of what was curated: Glue's bookmarks stay off.
    assert args["--job-bookmark-option"] == "job-bookmark-disable"
    [trigger] = package.of_type("AWS::Glue::Trigger").values()
    assert trigger["Type"] == "SCHEDULED"
    assert trigger["StartOnCreation"] is True
    assert trigger["Actions"] == [{"JobName": {"Ref": "CurateJob"}}]
    assert cost.monthly_runs(trigger["Schedule"]) == pytest.approx(365 / 12)


def test_glue_job_may_read_its_assets_where_the_plugin_uploads_them(package: Package) -> None:
    job_role = package.props("CurateJob")["Role"]["Fn::GetAtt"][0]
    reads = {r for a, r in _allowed(package, job_role) if a == "s3:GetObject"}
    prefix = f"serverless/nebula-stream/{STAGE}/glue/{glue_assets.content_hash(ROOT)}/*"
    assert json.dumps({"Fn::Sub": f"${{ServerlessDeploymentBucket.Arn}}/{prefix}"}) in reads


# -- Athena --------------------------------------------------------------------------------


def test_workgroup_enforces_encrypted_results_in_the_bucket_and_a_scan_cutoff(
    package: Package,
) -> None:
    config = package.props("AthenaWorkGroup")["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert 0 < config["BytesScannedCutoffPerQuery"] <= 10 * 1024**3
    results = config["ResultConfiguration"]
    assert _sub(results["OutputLocation"]) == "s3://${DataBucket}/athena-results/"
    condition, customer, managed = results["EncryptionConfiguration"]["Fn::If"]
    assert condition == "UseCustomerKey"
    assert customer == {"EncryptionOption": "SSE_KMS", "KmsKey": {"Fn::GetAtt": ["DataKey", "Arn"]}}
    assert managed == {"EncryptionOption": "SSE_S3"}


# -- monitoring ----------------------------------------------------------------------------


def test_alarms_cover_fetch_errors_staleness_dlq_and_api_5xx_and_notify_the_topic(
    package: Package,
) -> None:
    alarms = package.of_type("AWS::CloudWatch::Alarm")
    metrics = set()
    for props in alarms.values():
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        if "MetricName" in props:
            metrics.add((props["Namespace"], props["MetricName"]))
        else:
            metrics |= {
                (m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"])
                for m in props["Metrics"]
                if "MetricStat" in m
            }
    assert {
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Invocations"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/ApiGateway", "5xx"),
    } <= metrics
    stale = package.props("RawBatchesStaleAlarm")
    window = stale["EvaluationPeriods"] * max(
        m["MetricStat"]["Period"] for m in stale["Metrics"] if "MetricStat" in m
    )
    assert window == 15 * 60
    assert stale["TreatMissingData"] == "breaching"


def test_failed_glue_job_runs_reach_the_alarm_topic(package: Package) -> None:
    rule = package.props("CurateJobFailedRule")
    pattern = rule["EventPattern"]
    assert pattern["detail-type"] == ["Glue Job State Change"]
    assert pattern["detail"]["jobName"] == [{"Ref": "CurateJob"}]
    assert "FAILED" in pattern["detail"]["state"]
    assert [t["Arn"] for t in rule["Targets"]] == [{"Ref": "AlarmTopic"}]


def test_outputs_name_the_api_url_bucket_workgroup_and_database(package: Package) -> None:
    outputs = package.template["Outputs"]
    assert {"HttpApiUrl", "DataBucketName", "AthenaWorkGroupName", "GlueDatabaseName"} <= set(
        outputs
    )


# -- cost ----------------------------------------------------------------------------------


def test_cost_at_defaults_stays_within_two_dollars_and_the_doc_shows_it(package: Package) -> None:
    assumptions = cost.Assumptions()
    lines = cost.estimate(package.template, assumptions)
    # The goal: an idle stack at list price, and a lightly used one (100 API requests a day)
    # in an account whose always-free tiers are not used up elsewhere.
    idle = cost.estimate(package.template, replace(assumptions, api_requests_per_day=0))
    assert sum(line.usd for line in idle) <= 2.00
    assert sum(line.free_usd for line in lines) <= 2.00
    table = cost.report(package.template, assumptions)
    document = (ROOT / "docs" / "cost.md").read_text()
    assert cost.replace_block(document, table) == document, (
        "docs/cost.md is stale: run `python scripts/cost.py --write docs/cost.md --template "
        f"{package.path}/cloudformation-template-update-stack.json`"
    )


def test_queries_read_a_handful_of_objects_and_cost_cents_per_thousand(package: Package) -> None:
    figures = cost.figures(package.template, cost.Assumptions())
    assert figures["idle_usd_month"] <= 2.00
    assert figures["objects_per_query"]["latest"] <= 20
    assert figures["objects_per_query"]["history_1d"] <= 20
    # At the "modest 10,000 requests a day", repeats within a slot reuse Athena's result.
    busy = cost.figures(package.template, cost.Assumptions(api_requests_per_day=10_000))
    assert busy["usd_per_1000_requests"] <= 0.08


def test_the_per_request_cost_is_split_by_item_and_fixed_costs_are_not_spread_over_it(
    package: Package,
) -> None:
    quiet = cost.figures(package.template, cost.Assumptions())
    by_item = quiet["usd_per_1000_by_item"]
    assert sum(by_item.values()) == pytest.approx(quiet["usd_per_1000_requests"], abs=1e-3)
    # Nothing the idle stack pays (Glue, the crawler, KMS, storage) appears per request.
    assert set(by_item) <= {
        "Lambda",
        "API Gateway (HTTP API)",
        "Athena",
        "S3 requests",
        "CloudWatch",
    }
    # At 100 a day no query repeats within a slot: each pays Athena's 10 MB minimum.
    assert quiet["athena_reuse_fraction"] == 0
    per_query = cost.PRICE["athena_min_bytes_per_query"] / cost.TB * cost.PRICE["athena_tb_scanned"]
    assert by_item["Athena"] == pytest.approx(per_query * 1000, abs=1e-4)


def test_cold_starts_bill_their_init_in_proportion_to_requests_that_find_no_warm_function(
    package: Package,
) -> None:
    def lambda_per_1000(**assumed: float) -> float:
        return cost.per_1000_by_item(package.template, cost.Assumptions(**assumed))["Lambda"]

    memory_gb = package.props("ApiLambdaFunction")["MemorySize"] / 1024
    init_usd = 0.5 * memory_gb * cost.PRICE["lambda_gb_second_x86"] * 1000  # 0.5 s per 1,000
    quiet = lambda_per_1000(api_init_seconds=0.5) - lambda_per_1000(api_init_seconds=0)
    # 100 a day, 5 warm minutes: exp(-100/1440 x 5) of requests start cold.
    assert quiet == pytest.approx(init_usd * math.exp(-100 / 1440 * 5), rel=1e-3)
    # Busy traffic keeps the function warm: the init term all but vanishes.
    busy = lambda_per_1000(api_requests_per_day=10_000, api_init_seconds=0.5) - lambda_per_1000(
        api_requests_per_day=10_000, api_init_seconds=0
    )
    assert busy < init_usd / 1000
    # The default is the packaged API's import with its bytecode, not the 0.8 s without.
    assert cost.Assumptions().api_init_seconds < 0.5


def test_the_goal_per_1000_requests_is_met_from_the_traffic_the_model_names(
    package: Package,
) -> None:
    from_per_day = cost.figures(package.template, cost.Assumptions())[
        "goal_usd_per_1000_met_from_requests_per_day"
    ]
    assert 100 < from_per_day < 10_000

    def per_1000(per_day: float) -> float:
        figures = cost.figures(package.template, cost.Assumptions(api_requests_per_day=per_day))
        return float(figures["usd_per_1000_requests"])

    assert per_1000(from_per_day * 1.02) <= cost.GOAL_USD_PER_1000
    assert per_1000(from_per_day * 0.95) > cost.GOAL_USD_PER_1000


def test_without_hourly_curation_queries_pay_for_every_raw_batch_of_the_lookback(
    package: Package,
) -> None:
    template = json.loads(json.dumps(package.template))
    del template["Resources"]["CurateLambdaFunction"]

    def raw(lookback: float) -> float:
        routes = cost.objects_per_query(template, cost.Assumptions(api_raw_lookback_days=lookback))
        return routes["latest"]["raw"]

    assert raw(2) - raw(1) == pytest.approx(288)
    hourly = cost.objects_per_query(package.template, cost.Assumptions())
    assert raw(2) > 20 * hourly["latest"]["raw"]


def test_an_hourly_crawler_alone_would_cost_over_fifty_dollars(package: Package) -> None:
    template = json.loads(json.dumps(package.template))
    template["Resources"]["RawCrawler"]["Properties"]["Schedule"] = {
        "ScheduleExpression": "cron(0 * * * ? *)"
    }
    [crawler] = [
        line for line in cost.estimate(template, cost.Assumptions()) if "crawler" in line.item
    ]
    assert crawler.usd > 50


def test_the_customer_key_option_adds_its_monthly_key_fee(package: Package) -> None:
    def total(mode: str) -> float:
        template = json.loads(json.dumps(package.template))
        template["Parameters"]["KmsKeyMode"]["Default"] = mode
        return sum(line.usd for line in cost.estimate(template, cost.Assumptions()))

    assert total("customer") - total("aws-managed") == pytest.approx(cost.PRICE["kms_key_month"])


def test_alerts_fetcher_publishes_to_the_alarm_topic_and_reads_only_its_webhook_secret(
    package: Package,
) -> None:
    fetch = package.props("FetchLambdaFunction")["Environment"]["Variables"]
    assert fetch["NEBULA_ALERT_TOPIC_ARN"] == {"Ref": "AlarmTopic"}
    assert fetch["NEBULA_ENGINE"] == "athena"  # rules read prices as the API does
    assert fetch["NEBULA_ATHENA_WORKGROUP"] == {"Ref": "AthenaWorkGroup"}
    assert fetch["NEBULA_ALERT_WEBHOOK_URL"] == ""  # deploy param alertWebhookUrl
    # A NAME, read at run time: the secret itself is never in the template.
    assert fetch["NEBULA_ALERT_WEBHOOK_SECRET_PARAMETER"] == ""
    role = _role_of(package, "FetchLambdaFunction")
    allowed = _allowed(package, role)
    assert {r for a, r in allowed if a == "sns:Publish"} == {json.dumps({"Ref": "AlarmTopic"})}
    ssm = sorted(_sub(json.loads(r)) for a, r in allowed if a.startswith("ssm:"))
    assert [a for a, _ in allowed if a.startswith("ssm:")] == ["ssm:GetParameter"] * 2
    # The webhook secret's parameter, and the CoinGecko key's (the hardening of issue 14).
    assert [r.rsplit(":parameter", 1)[-1] for r in ssm] == [
        "${AlertWebhookSecretParameter}",
        "${CoinGeckoApiKeyParameter}",
    ]
    api = _allowed(package, _role_of(package, "ApiLambdaFunction"))
    assert not any(a.startswith(("sns:", "ssm:")) for a, _ in api)
    api_writes = {r for a, r in api if a == "s3:PutObject"}
    assert "alerts" not in json.dumps(sorted(api_writes))  # the API only reads alert state


def test_the_alert_email_subscription_takes_price_alerts_only(package: Package) -> None:
    subscription = package.resources["AlertEmailSubscription"]
    assert subscription["Condition"] == "HasAlertEmail"
    props = subscription["Properties"]
    assert props["TopicArn"] == {"Ref": "AlarmTopic"} and props["Protocol"] == "email"
    assert props["FilterPolicyScope"] == "MessageAttributes"
    # The filter matches the attribute the SNS channel puts on every price alert.
    from nebulastream.alerts.channels import SnsChannel
    from nebulastream.alerts.service import sample_firing

    published: list[dict[str, Any]] = []

    class Topic:
        def publish(self, **request: Any) -> None:
            published.append(request)

    rule = Rule(name="btc-high", coin="BTC", above=1)
    SnsChannel(Topic(), "arn:topic").send(sample_firing(rule, None, datetime.now(UTC)))
    attributes = published[0]["MessageAttributes"]
    assert props["FilterPolicy"] == {
        name: [attributes[name]["StringValue"]] for name in props["FilterPolicy"]
    }


# -- the heal function (docs/heal.md) -------------------------------------------------------


def test_heal_runs_hourly_one_at_a_time_and_failures_reach_the_alarm_topic(
    package: Package,
) -> None:
    heal = package.props("HealLambdaFunction")
    assert heal["Handler"] == "handlers/heal.handler"
    assert heal["ReservedConcurrentExecutions"] == 1
    [rule] = [
        p
        for p in package.of_type("AWS::Events::Rule").values()
        if {"Fn::GetAtt": ["HealLambdaFunction", "Arn"]} in [t["Arn"] for t in p["Targets"]]
    ]
    assert cost.monthly_runs(rule["ScheduleExpression"]) == pytest.approx(730)
    [invoke] = [
        p
        for p in package.of_type("AWS::Lambda::EventInvokeConfig").values()
        if p["FunctionName"] == {"Ref": "HealLambdaFunction"}
    ]
    assert invoke["MaximumRetryAttempts"] == 0
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == {"Ref": "AlarmTopic"}
    variables = heal["Environment"]["Variables"]
    assert variables["NEBULA_ALERT_TOPIC_ARN"] == {"Ref": "AlarmTopic"}


def test_heal_role_writes_raw_and_its_record_and_reads_only_the_state_it_needs(
    package: Package,
) -> None:
    role = _role_of(package, "HealLambdaFunction")
    assert role not in {
        _role_of(package, f) for f in ("FetchLambdaFunction", "CurateLambdaFunction")
    }
    allowed = _allowed(package, role)
    objects = lambda action: {r for a, r in allowed if a == action}  # noqa: E731
    state = "${DataBucket.Arn}/reports/_state/"
    assert objects("s3:PutObject") == {
        json.dumps({"Fn::Sub": "${DataBucket.Arn}/raw/*"}),
        json.dumps({"Fn::Sub": f"{state}unrecoverable.json"}),
    }
    assert objects("s3:GetObject") == {
        json.dumps({"Fn::Sub": f"{state}unrecoverable.json"}),
        json.dumps({"Fn::Sub": f"{state}coverage.json"}),
    }
    assert objects("sns:Publish") == {json.dumps({"Ref": "AlarmTopic"})}
    assert not any(a.startswith(("athena:", "glue:")) or a == "s3:DeleteObject" for a, _ in allowed)
