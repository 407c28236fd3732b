// File locations in workflow inputs come from whoever may start workflows: a worker reads only
// regular files under its ingest roots (SLUICE_INGEST_ROOTS), after resolving symlinks and `..`.
// Before this, /proc/self/environ landed the worker's environment (tokens included) in the
// append-only quarantine.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SluiceClient } from '../../client';
import { ingestWorkflowId } from '../../api';
import { startTestStack, testTemporalAddress, type TestStack } from '../helpers/env';

const ORDERS = 'ingest_test_orders';
const TS = '2026-03-01T10:00:00Z';

describe('ingest file locations: only regular files under the ingest roots', () => {
  let stack: TestStack;
  let client: SluiceClient;
  let root: string;
  let outside: string;

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-roots-'));
    outside = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-outside-'));
    fs.writeFileSync(path.join(root, 'good.ndjson'), `${JSON.stringify({ id: 'p1', ts: TS, amount: 1 })}\n`);
    fs.writeFileSync(path.join(outside, 'secret.ndjson'), `${JSON.stringify({ id: 'secret', ts: TS, amount: 1 })}\n`);
    fs.mkdirSync(path.join(root, 'a-directory'));
    execFileSync('mkfifo', [path.join(root, 'a-fifo')]);
    fs.symlinkSync('/etc/passwd', path.join(root, 'to-passwd'));
    fs.symlinkSync(path.join(outside, 'secret.ndjson'), path.join(root, 'to-outside'));
    fs.symlinkSync(path.join(root, 'good.ndjson'), path.join(root, 'to-good'));
    stack = await startTestStack({ queues: ['cpu'], config: { ingestRoots: [root] } });
    client = await SluiceClient.connect({ config: stack.config, address: testTemporalAddress() });
  });
  afterAll(async () => {
    await stack?.client.workflow
      .getHandle(ingestWorkflowId(ORDERS))
      .terminate('test over')
      .catch(() => undefined);
    await client?.close();
    await stack?.close();
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(outside, { recursive: true, force: true });
  });

  const rows = async (): Promise<{ log: number; quarantine: number }> => {
    const r = await stack.db.pool.query<{ log: number; quarantine: number }>(
      'SELECT (SELECT count(*) FROM sluice.raw_events)::int AS log, (SELECT count(*) FROM sluice.quarantine)::int AS quarantine',
    );
    return r.rows[0]!;
  };

  it.each([
    ['/proc/self/environ', 'under-root', 'SLUICE_INVALID_INPUT'],
    ['/etc/passwd', 'under-root', 'SLUICE_INVALID_INPUT'],
    ['<outside>/secret.ndjson', 'under-root', 'SLUICE_INVALID_INPUT'],
    ['<root>/../<outside-name>/secret.ndjson', 'under-root', 'SLUICE_INVALID_INPUT'],
    ['<root>/to-passwd', 'under-root', 'SLUICE_INVALID_INPUT'],
    ['<root>/to-outside', 'under-root', 'SLUICE_INVALID_INPUT'],
    ['<root>/a-directory', 'regular-file', 'SLUICE_INVALID_INPUT'],
    ['<root>/a-fifo', 'regular-file', 'SLUICE_INVALID_INPUT'],
    ['<root>/missing.ndjson', 'exists', 'SLUICE_INGEST_FILE_UNREADABLE'],
  ])('%s is refused by rule %s, at the first attempt, and nothing lands anywhere', async (template, rule, type) => {
    const location = template.replace('<root>', root).replace('<outside-name>', path.basename(outside)).replace('<outside>', outside);
    const before = await rows();
    const batchId = `refused-${rule}-${Math.abs(hash(template))}`;
    await expect(client.ingestFile(ORDERS, { kind: 'file', path: location }, { format: 'ndjson', batchId })).rejects.toMatchObject({
      cause: { cause: { type, nonRetryable: true, message: expect.stringContaining(`(rule ${rule})`) } },
    });
    expect(await rows()).toEqual(before);
    const attempts = await stack.db.pool.query<{ attempt: number }>(
      "SELECT attempt FROM sluice.run_events WHERE step = 'ingestFile' AND status = 'failed' AND error->>'message' LIKE $1",
      [`%${path.resolve(location)}%`], // the client makes a local path absolute (and drops `..`) before sending it
    );
    // Failed once and never retried (two cases name the same resolved path, so there may be two rows).
    expect(attempts.rows.length).toBeGreaterThanOrEqual(1);
    expect(attempts.rows.every((r) => r.attempt === 1)).toBe(true);
  });

  it('a regular file under a root is read, also through a symlink that stays inside; the batches after a refused one go on at once', async () => {
    const good = await client.ingestFile(ORDERS, { kind: 'file', path: path.join(root, 'good.ndjson') }, { format: 'ndjson' });
    expect(good).toMatchObject({ received: 1, accepted: 1 });
    const viaLink = await client.ingestFile(ORDERS, { kind: 'file', path: path.join(root, 'to-good') }, { format: 'ndjson' });
    expect(viaLink).toMatchObject({ received: 1, duplicates: 1 });
    const { rows: secrets } = await stack.db.pool.query("SELECT 1 FROM sluice.raw_events WHERE payload->>'id' = 'secret'");
    expect(secrets).toEqual([]);
  });
});

function hash(s: string): number {
  let h = 0;
  for (const c of s) h = (h * 31 + c.charCodeAt(0)) | 0;
  return h;
}
