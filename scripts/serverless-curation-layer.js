'use strict';
// Serverless plugin: builds and ships the curate function's layer (duckdb + pyarrow for
// python3.12 on x86_64, scripts/curation_layer.py), the way serverless-glue-assets.js ships
// the Glue job's files. Declared as a plain AWS::Lambda::LayerVersion (resources/curation.yml):
// the framework's own `layers:` asks CloudFormation for the last layer's hash while packaging,
// which breaks offline `serverless package`.
//
// - `${curationLayer:hash}` is the hash of the pins and the build recipe, so the layer's S3 key
//   (custom.curationLayerKey) changes exactly when its content would.
// - `package` builds the zip once into build/curation-layer/ (reused while the hash holds) and
//   copies it into the package folder's curation-layer/.
// - `deploy` uploads it after the framework's artifacts and before the stack update.

const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { S3Client, PutObjectCommand } = require('@aws-sdk/client-s3');

const PYTHON = process.env.NEBULA_DEPLOY_PYTHON || 'python3';
const CACHE = path.join('build', 'curation-layer');
const LAYER_DIR = 'curation-layer';
const ZIP = 'curation-engine.zip';

class CurationLayer {
  constructor(serverless, options, { log }) {
    this.serverless = serverless;
    this.options = options;
    this.log = log;
    this.provider = serverless.getProvider('aws');
    this.configurationVariablesSources = {
      curationLayer: {
        resolve: ({ address }) => {
          if (address !== 'hash') {
            throw new serverless.classes.Error(
              `\${curationLayer:${address}} is unknown: the only address is \${curationLayer:hash}.`
            );
          }
          return { value: this.python(['hash']).trim() };
        },
      },
    };
    this.hooks = {
      'after:package:createDeploymentArtifacts': () => this.build(),
      'after:aws:deploy:deploy:uploadArtifacts': () => this.upload(),
    };
  }

  python(args) {
    const script = path.join(this.serverless.serviceDir, 'scripts', 'curation_layer.py');
    try {
      return execFileSync(PYTHON, [script, ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      });
    } catch (error) {
      throw new this.serverless.classes.Error(
        `Building the curation layer failed (${PYTHON} scripts/curation_layer.py ${args.join(' ')}): ` +
          `${error.message}. Set NEBULA_DEPLOY_PYTHON to a Python 3.11+ with pip.`
      );
    }
  }

  layerDir() {
    const packageDir =
      this.options.package || this.serverless.service.package.path || '.serverless';
    return path.resolve(this.serverless.serviceDir, packageDir, LAYER_DIR);
  }

  build() {
    const cache = path.join(this.serverless.serviceDir, CACHE);
    const manifest = JSON.parse(this.python(['build', cache]));
    // Into .serverless/, like the framework's own artifacts: `--package DIR` moves it there.
    const dir = path.join(this.serverless.serviceDir, '.serverless', LAYER_DIR);
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(path.join(cache, ZIP), path.join(dir, ZIP));
    fs.copyFileSync(path.join(cache, 'layer.json'), path.join(dir, 'layer.json'));
    const mb = (bytes) => (bytes / 1024 / 1024).toFixed(0);
    this.log.info(
      `Curation layer ${manifest.hash}: ${mb(manifest.zip_bytes)} MB zipped, ` +
        `${mb(manifest.unzipped_bytes)} MB unzipped`
    );
  }

  async upload() {
    if (this.serverless.service.provider.shouldNotDeploy) return;
    const dir = this.layerDir();
    const manifestPath = path.join(dir, 'layer.json');
    if (!fs.existsSync(manifestPath)) {
      throw new this.serverless.classes.Error(`${manifestPath} is missing: package again.`);
    }
    const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
    const key = this.serverless.service.custom.curationLayerKey;
    if (!key.includes(`/${manifest.hash}/`)) {
      throw new this.serverless.classes.Error(
        `The curation layer in ${dir} (hash ${manifest.hash}) does not match the template ` +
          `(${key}): package again.`
      );
    }
    const bucket = await this.provider.getServerlessDeploymentBucketName();
    const s3 = new S3Client(await this.provider.getAwsSdkV3Config());
    const body = fs.readFileSync(path.join(dir, ZIP));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    this.log.info(`Uploaded s3://${bucket}/${key}`);
  }
}

module.exports = CurationLayer;
