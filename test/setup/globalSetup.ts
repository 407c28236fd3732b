/**
 * Starts Temporal and PostgreSQL once per test run with the same provisioning code as `npm run dev`
 * (TEMPORAL_ADDRESS / DATABASE_URL when set), builds the workflow bundle once, and hands the
 * addresses to the test files through environment variables.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { loadConfig } from '../../config';
import { provisionLocalStack, type LocalStack } from '../../scripts/provision';
import { findFreePort } from '../../scripts/provision/process';

declare global {
  var __SLUICE_STACK__: LocalStack | undefined;
  var __SLUICE_TEST_DIR__: string | undefined;
}

export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-test-'));
  fs.chmodSync(dir, 0o755); // the embedded PostgreSQL runs as user postgres when we are root
  const base = loadConfig();
  const config = {
    ...base,
    dataDir: dir,
    rolePasswordsFile: path.join(dir, 'postgres-roles.json'),
    devServer: { port: await findFreePort(), uiPort: await findFreePort(), embeddedPostgresPort: await findFreePort() },
  };
  const log = (m: string): void => {
    process.stderr.write(`[test setup] ${m}\n`);
  };
  const stack = await provisionLocalStack(config, { dataDir: dir, log, migrate: false });
  globalThis.__SLUICE_STACK__ = stack;
  globalThis.__SLUICE_TEST_DIR__ = dir;

  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../../workflows'),
    logger: { trace() {}, debug() {}, info() {}, log() {}, warn: (m: string) => log(m), error: (m: string) => log(m) },
  });
  const bundlePath = path.join(dir, 'workflow-bundle.js');
  fs.writeFileSync(bundlePath, code);

  process.env.SLUICE_TEST_TEMPORAL_ADDRESS = stack.temporal.address;
  process.env.SLUICE_TEST_NAMESPACE = stack.temporal.namespace;
  // The Web UI of the dev server these scripts run (unknown for a server given by TEMPORAL_ADDRESS).
  if (stack.temporal.uiUrl) process.env.SLUICE_TEST_TEMPORAL_UI_URL = stack.temporal.uiUrl;
  // Scratch databases are made with the superuser; each test file then connects as sluice_worker.
  process.env.SLUICE_TEST_DATABASE_URL = stack.postgres.adminUrl ?? stack.postgres.url;
  process.env.SLUICE_ROLE_PASSWORDS_FILE = config.rolePasswordsFile;
  process.env.SLUICE_TEST_DIR = dir;
  // Test files write their input files under the system's temporary directory: that is the
  // workers' ingest root in tests (test/integration/ingestPaths.test.ts checks the roots themselves).
  process.env.SLUICE_INGEST_ROOTS ??= fs.realpathSync(os.tmpdir());
  process.env.SLUICE_WORKFLOW_BUNDLE = bundlePath;
  log(
    `ready in ${Date.now() - started} ms: Temporal ${stack.temporal.address} (${stack.temporal.source}), PostgreSQL (${stack.postgres.source})`,
  );
}
