"""The Serverless plugin that ships the Glue assets: what `deploy` uploads, and when it refuses."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from scripts import glue_assets

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "scripts" / "serverless-glue-assets.js"

# Drives the plugin's deploy hook with a stand-in for the framework and an S3 client whose
# `send` records the commands instead of calling AWS.
DRIVER = r"""
const [pluginPath, root, packageDir, prefix, unchanged] = process.argv.slice(2);
const { S3Client } = require(require.resolve('@aws-sdk/client-s3', { paths: [root] }));
const sent = [];
S3Client.prototype.send = async function (command) {
  const { Bucket, Key, Body } = command.input;
  sent.push({ Bucket, Key, bytes: Body.length });
  return {};
};
class ServerlessError extends Error {}
const serverless = {
  serviceDir: root,
  classes: { Error: ServerlessError },
  service: {
    provider: { shouldNotDeploy: unchanged === 'true' },
    custom: { glueAssetsPrefix: prefix },
    package: {},
  },
  getProvider: () => ({
    getServerlessDeploymentBucketName: async () => 'deployment-bucket',
    getAwsSdkV3Config: async () => ({
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'fake' },
    }),
  }),
};
const GlueAssets = require(pluginPath);
const log = { info() {}, warning() {} };
const plugin = new GlueAssets(serverless, { package: packageDir }, { log });
plugin.hooks['after:aws:deploy:deploy:uploadArtifacts']().then(
  () => console.log(JSON.stringify({ ok: true, sent })),
  (error) => console.log(JSON.stringify({ ok: false, error: error.message, sent })),
);
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(
        ROOT / "nebulastream", root / "nebulastream", ignore=shutil.ignore_patterns("__pycache__")
    )
    return root


def _deploy(
    tmp_path: Path, checkout: Path, *, prefix_hash: str | None = None, unchanged: bool = False
) -> dict[str, Any]:
    """Build the assets as `package` does, then run the deploy hook against them."""
    package_dir = tmp_path / "package"
    manifest = glue_assets.build(checkout, package_dir / "glue")
    prefix = f"serverless/nebula-stream/dev/glue/{prefix_hash or manifest['hash']}"
    driver = tmp_path / "driver.js"
    driver.write_text(DRIVER)
    done = subprocess.run(
        [
            "node",
            str(driver),
            str(PLUGIN),
            str(ROOT),
            str(package_dir),
            prefix,
            str(unchanged).lower(),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["prefix"] = prefix
    return result


def _with_script(checkout: Path) -> None:
    (checkout / "glue").mkdir()
    (checkout / glue_assets.SCRIPT).write_text("print('curate')\n")


def test_deploy_uploads_script_and_package_under_the_templates_prefix(
    checkout: Path, tmp_path: Path
) -> None:
    _with_script(checkout)
    result = _deploy(tmp_path, checkout)
    assert result["ok"], result
    zip_size = (tmp_path / "package" / "glue" / glue_assets.ZIP_NAME).stat().st_size
    assert sorted(result["sent"], key=lambda s: s["Key"]) == [
        {"Bucket": "deployment-bucket", "Key": f"{result['prefix']}/curate_job.py", "bytes": 16},
        {
            "Bucket": "deployment-bucket",
            "Key": f"{result['prefix']}/nebulastream.zip",
            "bytes": zip_size,
        },
    ]


def test_deploy_refuses_a_job_without_its_script_and_uploads_nothing(
    checkout: Path, tmp_path: Path
) -> None:
    result = _deploy(tmp_path, checkout)
    assert not result["ok"]
    assert "glue/curate_job.py is missing" in result["error"]
    assert result["sent"] == []


def test_deploy_refuses_assets_built_for_another_template(checkout: Path, tmp_path: Path) -> None:
    _with_script(checkout)
    result = _deploy(tmp_path, checkout, prefix_hash="0123456789abcdef")
    assert not result["ok"]
    assert "package again" in result["error"]
    assert result["sent"] == []


def test_unchanged_stack_uploads_nothing(checkout: Path, tmp_path: Path) -> None:
    _with_script(checkout)
    result = _deploy(tmp_path, checkout, unchanged=True)
    assert result == {"ok": True, "sent": [], "prefix": result["prefix"]}
