'use strict';
// Serverless plugin: puts CPython bytecode into the packaged functions' zip
// (scripts/bytecode.py), so a cold start imports the code instead of compiling all of it:
// `import handlers.api` from the package takes 0.32 s with it against 0.78 s without
// (benchmarks/cold_start_bench.py), and Lambda bills that INIT time.
//
// Bytecode is specific to a Python minor version, so it is compiled by a Python of the
// functions' runtime (provider.runtime, python3.12), found by `scripts/bytecode.py find`:
// NEBULA_BYTECODE_PYTHON, else `python3.12` on PATH, else pyenv's newest 3.12. Without one the
// package still works, compiled at each cold start as before, and packaging says so.
//
// Runs after serverless-python-requirements (listed before it), which adds the dependencies
// to the zip in the same hook, and before the framework hashes the zip for the function
// versions.

const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const DEPLOY_PYTHON = process.env.NEBULA_DEPLOY_PYTHON || 'python3';

class Bytecode {
  constructor(serverless, options, { log }) {
    this.serverless = serverless;
    this.log = log;
    this.hooks = {
      'after:package:createDeploymentArtifacts': () => this.compile(),
    };
  }

  runtime() {
    return this.serverless.service.provider.runtime || 'python3.12';
  }

  // scripts/bytecode.py's lookup, run by the deploy Python (the one that fetched the wheels).
  python() {
    const script = path.join(this.serverless.serviceDir, 'scripts', 'bytecode.py');
    try {
      return execFileSync(DEPLOY_PYTHON, [script, 'find', this.runtime()], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch (error) {
      return null; // exit 1: none found
    }
  }

  artifacts() {
    const service = this.serverless.service;
    const found = new Set();
    if (service.package && service.package.artifact) found.add(service.package.artifact);
    for (const name of service.getAllFunctions()) {
      const fn = service.getFunction(name);
      if (fn.package && fn.package.artifact) found.add(fn.package.artifact);
    }
    return [...found]
      .map((file) => path.resolve(this.serverless.serviceDir, file))
      .filter((file) => file.endsWith('.zip') && fs.existsSync(file));
  }

  compile() {
    const zips = this.artifacts();
    if (zips.length === 0) return;
    const python = this.python();
    if (!python) {
      this.log.warning(
        `No ${this.runtime()} found to compile bytecode: the package ships sources only and ` +
          'each cold start compiles them (about 0.46 s more for the API). Set ' +
          `NEBULA_BYTECODE_PYTHON to a ${this.runtime()} interpreter.`
      );
      return;
    }
    const script = path.join(this.serverless.serviceDir, 'scripts', 'bytecode.py');
    let output;
    try {
      output = execFileSync(python, [script, 'add', '--runtime', this.runtime(), ...zips], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      });
    } catch (error) {
      throw new this.serverless.classes.Error(
        `Adding bytecode to the package failed (${python} scripts/bytecode.py): ${error.message}`
      );
    }
    for (const line of output.trim().split('\n')) {
      const done = JSON.parse(line);
      const mb = (done.zip_bytes / 1024 / 1024).toFixed(1);
      this.log.info(
        `Bytecode for ${done.compiled} modules (Python ${done.python}) in ` +
          `${path.basename(done.zip)}: ${mb} MB`
      );
    }
  }
}

module.exports = Bytecode;
