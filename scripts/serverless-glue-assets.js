'use strict';
// Serverless plugin: ships the Glue job's script and the nebulastream zip with every deploy.
//
// - `${glueAssets:hash}` is the content hash of both (scripts/glue_assets.py), so the S3 keys
//   in the template (custom.glueAssetsPrefix) change whenever the code does.
// - `package` builds the files into .serverless/glue/ (a missing glue/curate_job.py is a
//   warning here, so the stack can be packaged and linted before the job exists).
// - `deploy` uploads them to the deployment bucket after the framework's own artifacts and
//   before the stack update, so the job never points at a file that is not there yet; it
//   refuses to deploy a job without its script.

const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { S3Client, PutObjectCommand } = require('@aws-sdk/client-s3');

const PYTHON = process.env.NEBULA_DEPLOY_PYTHON || 'python3';
const ASSETS_DIR = 'glue';

class GlueAssets {
  constructor(serverless, options, { log }) {
    this.serverless = serverless;
    this.options = options;
    this.log = log;
    this.provider = serverless.getProvider('aws');
    this.configurationVariablesSources = {
      glueAssets: {
        resolve: ({ address }) => {
          if (address !== 'hash') {
            throw new serverless.classes.Error(
              `\${glueAssets:${address}} is unknown: the only address is \${glueAssets:hash}.`
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
    const script = path.join(this.serverless.serviceDir, 'scripts', 'glue_assets.py');
    try {
      return execFileSync(PYTHON, [script, '--root', this.serverless.serviceDir, ...args], {
        encoding: 'utf8',
      });
    } catch (error) {
      throw new this.serverless.classes.Error(
        `Building the Glue assets failed (${PYTHON} ${path.basename(script)} ${args.join(' ')}): ` +
          `${error.message}. Set NEBULA_DEPLOY_PYTHON to a Python 3.11+ if ${PYTHON} is not one.`
      );
    }
  }

  assetsDir() {
    const packageDir =
      this.options.package || this.serverless.service.package.path || '.serverless';
    return path.resolve(this.serverless.serviceDir, packageDir, ASSETS_DIR);
  }

  build() {
    const out = path.join(this.serverless.serviceDir, '.serverless', ASSETS_DIR);
    const manifest = JSON.parse(this.python(['build', out]));
    if (!manifest.script) {
      this.log.warning(
        'glue/curate_job.py does not exist yet: packaged the nebulastream zip only. ' +
          '`serverless deploy` refuses to deploy the Glue job without its script.'
      );
    }
  }

  async upload() {
    if (this.serverless.service.provider.shouldNotDeploy) return;
    const dir = this.assetsDir();
    const manifestPath = path.join(dir, 'manifest.json');
    if (!fs.existsSync(manifestPath)) {
      throw new this.serverless.classes.Error(`${manifestPath} is missing: package again.`);
    }
    const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
    const prefix = this.serverless.service.custom.glueAssetsPrefix;
    if (!manifest.script) {
      throw new this.serverless.classes.Error(
        'glue/curate_job.py is missing, so the Glue job would point at no script. ' +
          'Add the script (or check out a branch that has it) and deploy again.'
      );
    }
    if (!prefix.endsWith(`/${manifest.hash}`)) {
      throw new this.serverless.classes.Error(
        `The Glue assets in ${dir} (hash ${manifest.hash}) do not match the template ` +
          `(${prefix}): package again.`
      );
    }
    const bucket = await this.provider.getServerlessDeploymentBucketName();
    const s3 = new S3Client(await this.provider.getAwsSdkV3Config());
    for (const name of manifest.files) {
      const key = `${prefix}/${name}`;
      const body = fs.readFileSync(path.join(dir, name));
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
      this.log.info(`Uploaded s3://${bucket}/${key}`);
    }
  }
}

module.exports = GlueAssets;
