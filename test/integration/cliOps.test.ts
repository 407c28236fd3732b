// The operational commands of the `sluice` CLI against a real Temporal server and real workers:
// ingest a file, backfill a transform, approve with nothing pending; usage and refusals as exit codes.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../../client/cli';
import type { CliIo } from '../../client/contracts';
import { bar, progressLine } from '../../client/opsCli';
import { SluiceClient } from '../../client/sluiceClient';
import { startTestStack, testTemporalAddress, type TestStack } from '../helpers/env';

const view = (i: number) => ({
  id: `cli-${i}`,
  ts: new Date(Date.UTC(2026, 10, 1) + i * 60_000).toISOString(),
  user_id: i % 7,
  user_email: `u${i % 7}@example.com`,
  page: '/home',
  duration_ms: 1000 + i,
  country: 'DE',
  device: 'mobile',
  converted: false,
  revenue: 0,
});

describe('sluice ingest | backfill | approve', () => {
  let stack: TestStack;
  let client: SluiceClient;
  let env: Record<string, string | undefined>;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-cli-ops-'));
  const cli = async (argv: string[], isTty = false) => {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = { out: (t) => out.push(t), err: (t) => err.push(t), env };
    const code = await runCli(argv, io, isTty);
    return { code, out: out.join(''), err: err.join('') };
  };

  beforeAll(async () => {
    stack = await startTestStack({ queues: ['cpu'] });
    client = await SluiceClient.connect({ config: stack.config, address: testTemporalAddress() });
    env = {
      ...process.env,
      TEMPORAL_ADDRESS: testTemporalAddress(),
      TEMPORAL_NAMESPACE: stack.config.temporal.namespace,
      SLUICE_TASK_QUEUE_CPU: stack.config.taskQueues.cpu,
      SLUICE_TASK_QUEUE_GPU: stack.config.taskQueues.gpu,
    };
  });
  afterAll(async () => {
    await client?.close();
    await stack?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('draws progress only on a terminal', () => {
    const written: string[] = [];
    const off = progressLine(false, (t) => written.push(t));
    off.update('x');
    off.done();
    expect(written).toEqual([]);
    const on = progressLine(true, (t) => written.push(t));
    on.update('half');
    on.done();
    expect(written).toEqual(['\r\x1b[2Khalf', '\r\x1b[2K']);
    expect(bar(0.5, 10)).toBe('[#####-----] 50%');
  });

  it('ingest: a file lands (counts add up, a damaged line is quarantined), --json, and a missing file or no args are refused', async () => {
    const file = path.join(dir, 'views.ndjson');
    fs.writeFileSync(
      file,
      [...[1, 2, 3, 4, 5].map((i) => JSON.stringify(view(i))), '{"id": "broken', JSON.stringify(view(1))].join('\n') + '\n',
    );
    const r = await cli(['ingest', 'page_views', file, '--json']);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.out) as { received: number; accepted: number; quarantined: number; duplicates: number };
    expect(result).toMatchObject({ received: 7, accepted: 5, quarantined: 1, duplicates: 1 });
    expect(result.received).toBe(result.accepted + result.quarantined + result.duplicates);
    const text = await cli(['ingest', 'page_views', file], true);
    expect(text.code).toBe(0);
    // the same file again is the same batch: nothing new lands
    expect(text.out).toMatch(/^page_views: 7 received = 0 accepted \+ 0 quarantined \+ 7 duplicates/);
    expect(await cli(['ingest', 'page_views', path.join(dir, 'nope.ndjson')])).toMatchObject({
      code: 1,
      err: expect.stringMatching(/does not exist/),
    });
    expect(await cli(['ingest', 'page_views'])).toMatchObject({ code: 2, err: expect.stringMatching(/ingest takes a source and a file/) });
    // outside the workers' ingest roots: refused by the worker, named in the user's terms
    const outside = await cli(['ingest', 'page_views', '/etc/hostname', '--format', 'ndjson']);
    expect(outside.code).toBe(1);
    expect(outside.err).toMatch(/SLUICE_INVALID_INPUT/);
  });

  it('backfill: rebuilds a registered transform version and reports it; a bad version is a usage error', async () => {
    await client.registerTransform({
      name: 'cli_views',
      version: 1,
      sources: ['page_views'],
      sql: "SELECT seq, payload->>'page' AS page FROM sluice.raw_events WHERE source = 'page_views' AND seq BETWEEN $1 AND $2",
    });
    const r = await cli(['backfill', 'cli_views', '1', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ workflowId: expect.stringMatching(/^backfill-cli_views-/) });
    expect(await cli(['backfill', 'cli_views', 'one'])).toMatchObject({ code: 2 });
  });

  it('approve / reject: nothing pending is a refusal (exit 1); a missing reason is a usage error (exit 2)', async () => {
    expect(await cli(['approve', 'no-such-endpoint', '--reason', 'looks good', '--who', 'ana'])).toMatchObject({ code: 1 });
    expect(await cli(['reject', 'no-such-endpoint', '--who', 'ana'])).toMatchObject({ code: 2 });
  });
});
