// The package as another Node project gets it: `npm pack` (its prepack builds dist/ from the
// sources), installed into a scratch project, used from plain CommonJS with `node`, from ESM, from
// TypeScript, and through its `sluice` bin; its client starts a real workflow on real workers.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { HealthCheckResult } from '../../api';
import { createTestDatabase, startTestStack, testTemporalAddress, uniqueName, type TestDatabase, type TestStack } from '../helpers/env';

const root = path.resolve(__dirname, '../..');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command without blocking the event loop (the workers of this process keep polling meanwhile). */
function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd: options.cwd, env: options.env ?? process.env, timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr: err && typeof err.code !== 'number' ? `${stderr}\n${err.message}` : stderr });
      },
    );
  });
}

/** Fails with everything the command printed when it did not exit with `code`. */
function expectExit(r: Run, code = 0): void {
  expect({ code: r.code, output: r.code === code ? '' : `${r.stdout}\n${r.stderr}` }).toEqual({ code, output: '' });
}

/**
 * The scratch project's lockfile: the runtime part of sluice's own package-lock.json. The machine
 * holds every runtime dependency in npm's cache (the checkout ran `npm ci`), but only the tarballs,
 * not the registry's metadata, and `npm install --offline` needs metadata to resolve a version
 * range unless a lockfile pins it. Pinned, npm takes the tarballs from the cache by their
 * integrity, exactly as it would from the registry. A dependency added to package.json but not to
 * the lock makes the install fail (ENOTCACHED), as it should.
 */
function scratchLockfile(name: string): object {
  const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const packages: Record<string, unknown> = { '': { name, version: '1.0.0' } };
  for (const [location, entry] of Object.entries(lock.packages)) {
    if (location !== '' && !entry.dev) packages[location] = entry;
  }
  return { name, version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

// Plain CommonJS, as a service that depends on sluice writes it; configured by the environment.
const CLIENT_SCRIPT = `'use strict';
const { SluiceClient } = require('sluice/client');

async function main() {
  const client = await SluiceClient.connect();
  try {
    const { workflowId, result } = await client.healthCheck({ workflowId: process.env.WORKFLOW_ID });
    process.stdout.write(JSON.stringify({ workflowId, result }) + '\\n');
  } finally {
    await client.close();
  }
}
main().catch((err) => {
  process.stderr.write(String((err && err.stack) || err) + '\\n');
  process.exitCode = 1;
});
`;

// Workers from the installed package (they bundle its compiled workflows and apply its migrations),
// then the client against them, in one process.
const WORKER_SCRIPT = `'use strict';
const { createWorkerSet } = require('sluice/workers');
const { SluiceClient, loadConfig } = require('sluice/client');

async function main() {
  const config = loadConfig();
  const workers = await createWorkerSet({ config, databaseUrl: config.databaseUrl, queues: ['cpu', 'gpu'] });
  const running = workers.run();
  try {
    const client = await SluiceClient.connect({ config });
    try {
      const { result } = await client.healthCheck({ workflowId: process.env.WORKFLOW_ID });
      process.stdout.write(JSON.stringify(result) + '\\n');
    } finally {
      await client.close();
    }
  } finally {
    workers.shutdown();
    await running;
  }
}
main().catch((err) => {
  process.stderr.write(String((err && err.stack) || err) + '\\n');
  process.exitCode = 1;
});
`;

const EXPORTS_SCRIPT = `'use strict';
const client = require('sluice/client');
let deepImport = 'allowed';
try {
  require('sluice/dist/client/index.js');
} catch (err) {
  deepImport = err.code;
}
process.stdout.write(JSON.stringify({
  rootIsClient: require('sluice') === client,
  client: typeof client.SluiceClient.connect,
  workers: [typeof require('sluice/workers').createWorkerSet, typeof require('sluice/workers').runWorkerProcess],
  name: require('sluice/package.json').name,
  deepImport,
}) + '\\n');
`;

const TS_CONSUMER = `import { SluiceClient, type SluiceConfig } from 'sluice/client';
import { createWorkerSet, type WorkerSet } from 'sluice/workers';

export async function migrations(config: SluiceConfig): Promise<number> {
  const client = await SluiceClient.connect({ config });
  const { result } = await client.healthCheck();
  return result.database.migrations;
}
export const start: (options: Parameters<typeof createWorkerSet>[0]) => Promise<WorkerSet> = createWorkerSet;
`;

describe('the npm package, installed into another Node project', () => {
  let work: string;
  let project: string;
  let stack: TestStack;
  const timings: Record<string, number> = {};

  const timed = async <T>(label: string, f: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    try {
      return await f();
    } finally {
      timings[label] = Date.now() - started;
    }
  };

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-package-'));
    project = path.join(work, 'consumer');
    fs.mkdirSync(path.join(work, 'pack'));
    fs.mkdirSync(project);

    const install = async (): Promise<void> => {
      // prepack builds dist/ from a clean slate (npm run build), then npm packs what `files` lists.
      const pack = await timed('pack (build included)', () =>
        run('npm', ['pack', '--pack-destination', path.join(work, 'pack')], { cwd: root }),
      );
      expectExit(pack);
      const tarballs = fs.readdirSync(path.join(work, 'pack')).filter((f) => f.endsWith('.tgz'));
      expect(tarballs).toHaveLength(1);
      const tarball = path.join(work, 'pack', tarballs[0]!);

      fs.writeFileSync(
        path.join(project, 'package.json'),
        `${JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }, null, 2)}\n`,
      );
      fs.writeFileSync(path.join(project, 'package-lock.json'), `${JSON.stringify(scratchLockfile('consumer'), null, 2)}\n`);
      // onnxruntime-node's install script would fetch CUDA libraries; its CPU binaries are in the package.
      const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' };
      const installed = await timed('npm install --offline', () =>
        run('npm', ['install', '--offline', '--no-audit', '--no-fund', tarball], { cwd: project, env }),
      );
      expectExit(installed);
    };
    // Side by side; whatever started is closed by afterAll even when the other one failed.
    const [started, installed] = await Promise.allSettled([startTestStack(), install()]);
    if (started.status === 'fulfilled') stack = started.value;
    for (const r of [started, installed]) if (r.status === 'rejected') throw r.reason;
  });

  afterAll(async () => {
    await stack?.close();
    if (work && !process.env.SLUICE_KEEP_TEST_DIR) fs.rmSync(work, { recursive: true, force: true });
    process.stderr.write(
      `[package test] ${Object.entries(timings)
        .map(([k, ms]) => `${k} ${(ms / 1000).toFixed(1)} s`)
        .join(', ')}\n`,
    );
  });

  it('ships the compiled code with its run-time files, not the sources', () => {
    const installed = path.join(project, 'node_modules', 'sluice');
    const migrations = fs.readdirSync(path.join(root, 'db', 'migrations')).filter((f) => f.endsWith('.sql'));
    const inputSchemas = fs.readdirSync(path.join(root, 'contracts', 'workflows')).filter((f) => f.endsWith('.json'));
    expect(fs.readdirSync(path.join(installed, 'dist', 'db', 'migrations')).sort()).toEqual(migrations.sort());
    expect(fs.readdirSync(path.join(installed, 'dist', 'contracts', 'workflows')).sort()).toEqual(inputSchemas.sort());
    expect(fs.existsSync(path.join(installed, 'dist', 'contracts', 'contract.schema.json'))).toBe(true);
    expect(fs.existsSync(path.join(installed, 'dist', 'workflows', 'index.js'))).toBe(true);
    expect(fs.existsSync(path.join(installed, 'dist', 'client', 'index.d.ts'))).toBe(true);
    expect(fs.readFileSync(path.join(installed, 'dist', 'client', 'cli.js'), 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    // No TypeScript sources, tests or repository files beside dist/.
    expect(fs.readdirSync(installed).filter((f) => !['dist', 'package.json', 'README.md', 'LICENSE'].includes(f))).toEqual([]);
    expect(fs.existsSync(path.join(installed, 'dist', 'scripts', 'bench'))).toBe(false);
  });

  it('resolves its entry points by the exports map, from CommonJS and ESM, and keeps internals private', async () => {
    fs.writeFileSync(path.join(project, 'exports.cjs'), EXPORTS_SCRIPT);
    const cjs = await run(process.execPath, ['exports.cjs'], { cwd: project });
    expectExit(cjs);
    expect(JSON.parse(cjs.stdout)).toEqual({
      rootIsClient: true,
      client: 'function',
      workers: ['function', 'function'],
      name: 'sluice',
      deepImport: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
    });
    const esm = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "import { SluiceClient, loadConfig } from 'sluice/client'; console.log(typeof SluiceClient.connect, typeof loadConfig);",
      ],
      { cwd: project },
    );
    expectExit(esm);
    expect(esm.stdout.trim()).toBe('function function');
  });

  it('gives TypeScript consumers its types (a wrong field is a compile error)', async () => {
    const tsc = require.resolve('typescript/bin/tsc');
    const tsconfig = {
      compilerOptions: {
        module: 'node16',
        moduleResolution: 'node16',
        target: 'ES2022',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: [],
      },
      files: ['consumer.ts'],
    };
    fs.writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify(tsconfig));
    fs.writeFileSync(path.join(project, 'consumer.ts'), TS_CONSUMER);
    expectExit(await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project }));
    fs.writeFileSync(
      path.join(project, 'consumer.ts'),
      TS_CONSUMER.replace('result.database.migrations', 'result.database.migrationCount'),
    );
    const wrong = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stdout).toMatch(/Property 'migrationCount' does not exist on type/);
  });

  it("require('sluice/client') in a plain node script starts healthCheck on real workers and gets its result", async () => {
    fs.writeFileSync(path.join(project, 'client.cjs'), CLIENT_SCRIPT);
    const workflowId = uniqueName('package-health');
    const r = await timed('client script', () =>
      run(process.execPath, ['client.cjs'], {
        cwd: project,
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: testTemporalAddress(),
          TEMPORAL_NAMESPACE: stack.config.temporal.namespace,
          SLUICE_TASK_QUEUE_CPU: stack.config.taskQueues.cpu,
          SLUICE_TASK_QUEUE_GPU: stack.config.taskQueues.gpu,
          WORKFLOW_ID: workflowId,
        },
      }),
    );
    expectExit(r);
    const { workflowId: started, result } = JSON.parse(r.stdout) as { workflowId: string; result: HealthCheckResult };
    expect(started).toBe(workflowId);
    expect(result.cpu.inferenceOk).toBe(true);
    expect(result.gpu.inferenceOk).toBe(true);
    // It ran on this process's workers: Temporal recorded it in the test namespace, on the test queue.
    const description = await stack.client.workflow.getHandle(workflowId).describe();
    expect([description.type, description.status.name, description.taskQueue]).toEqual([
      'healthCheck',
      'COMPLETED',
      stack.config.taskQueues.cpu,
    ]);
  });

  describe('workers from the package', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await createTestDatabase({ migrate: false });
    });
    afterAll(async () => {
      await db?.drop();
    });

    it("require('sluice/workers') runs CPU and GPU workers that bundle the packaged workflows and apply the packaged migrations", async () => {
      fs.writeFileSync(path.join(project, 'worker.cjs'), WORKER_SCRIPT);
      const queue = uniqueName('package');
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        TEMPORAL_ADDRESS: testTemporalAddress(),
        TEMPORAL_NAMESPACE: stack.config.temporal.namespace,
        // A superuser URL, as a first start on a fresh server: the packaged workers create the roles,
        // migrate as sluice_owner and connect as sluice_worker.
        DATABASE_URL: db.adminUrl,
        SLUICE_TASK_QUEUE_CPU: `${queue}-cpu`,
        SLUICE_TASK_QUEUE_GPU: `${queue}-gpu`,
        SLUICE_SHUTDOWN_GRACE_SECONDS: '1',
        WORKFLOW_ID: uniqueName('package-worker-health'),
      };
      // The test run's prebuilt bundle is of the sources; these workers must bundle what was installed.
      delete env.SLUICE_WORKFLOW_BUNDLE;
      const r = await timed('worker script', () => run(process.execPath, ['worker.cjs'], { cwd: project, env, timeoutMs: 150_000 }));
      expectExit(r);
      const result = JSON.parse(r.stdout) as HealthCheckResult;
      const migrations = fs.readdirSync(path.join(root, 'db', 'migrations')).filter((f) => f.endsWith('.sql'));
      expect(result.database.migrations).toBe(migrations.length);
      expect([result.cpu.inferenceOk, result.gpu.inferenceOk]).toEqual([true, true]);
      // The fresh database was migrated from the package's SQL files, and the bundle built from its compiled workflows.
      for (const file of migrations) expect(r.stderr).toContain(`applied migration ${file}`);
      // webpack lists the bundled modules by path: the workflows come from the installed package, not from a source tree.
      expect(r.stderr).toMatch(/node_modules\/sluice\/dist\/workflows\//);
      expect(r.stderr).toMatch(/cpu worker ready on task queue/);
      expect(r.stderr).toMatch(/used only to create the roles .*connecting as sluice_worker/);
    });
  });

  it('installs the sluice bin, compiled JavaScript that runs by its shebang', async () => {
    const usage = await run('npx', ['--no', 'sluice'], { cwd: project });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^usage: sluice <command>/m);
    // Straight through the link npm made: the kernel reads the shebang, no npm in between.
    const check = await run(path.join(project, 'node_modules', '.bin', 'sluice'), ['contracts', 'check', '--json'], { cwd: project });
    expectExit(check);
    // It reads the contract files shipped in the package.
    const contracts = new Set(
      fs.readdirSync(path.join(root, 'contracts', 'sources')).map((f) => f.replace(/\.v\d+\.\d+\.\d+\.(json|ya?ml)$/, '')),
    );
    expect(JSON.parse(check.stdout)).toMatchObject({ contracts: contracts.size, warnings: [] });
  });
});
