// The deploy workflow against a real Temporal server and PostgreSQL: the gate (recorded metrics,
// re-scoring when datasets differ, no champion), approval updates and their refusals, expiry,
// shadow sessions compared from prediction events in the log, the atomic promotion, rollbacks (CLI
// and update) that walk back the recorded history, and bad input that leaves the champion as it was.
import { recordHistoryIfAsked } from '../helpers/histories';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { LocalArtifactStore } from '../../activities/artifacts';
import { promoteOnEndpoint, rollbackEndpoint } from '../../activities/deploy';
import { readModelSignature, rowSchema } from '../../activities/onnx';
import { exportModelToOnnx } from '../../activities/onnx';
import { ErrorCodes } from '../../api/errors';
import { rollbackSignal } from '../../api/messages';
import { SluiceModel, SluiceStatus, SluiceStep } from '../../api/searchAttributes';
import { deployWorkflowId, type DeployInput, type DeployResult } from '../../api/workflows/deploy';
import { DeployRefusedError, SluiceClient } from '../../client';
import { runCli } from '../../client/cli';
import { pollUntil } from '../../client/poll';
import { gatePolicy, registerVersion, SHADOW_ENDPOINT, shadowedPredictions, signModel } from '../helpers/deploy';
import { startTestStack, testTemporalAddress, type TestStack } from '../helpers/env';
import { arrowTestFile } from '../helpers/models';

const D1 = 'd'.repeat(64);
type ShadowPolicy = NonNullable<DeployInput['policy']['shadow']>;

describe('deploy workflow', () => {
  let stack: TestStack;
  let client: SluiceClient;
  let dir: string;
  let store: LocalArtifactStore;
  let d2: string;

  const champion = async (model: string): Promise<number | null> =>
    (
      await stack.db.pool.query<{ version: number }>("SELECT version FROM sluice.model_aliases WHERE name = $1 AND alias = 'champion'", [
        model,
      ])
    ).rows[0]?.version ?? null;
  const alias = async (model: string, a: string): Promise<number | null> =>
    (await stack.db.pool.query<{ version: number }>('SELECT version FROM sluice.model_aliases WHERE name = $1 AND alias = $2', [model, a]))
      .rows[0]?.version ?? null;
  const register = (model: string, metrics: Record<string, unknown>, options: { datasetId?: string; w?: number; feature?: string } = {}) =>
    registerVersion(stack.db.pool, store, model, {
      datasetId: options.datasetId ?? D1,
      metrics,
      model: signModel(options.w ?? 1, options.feature),
    });
  // the gated promotion as a caller waits for it (client.promote = deploy + result)
  const deploy = (input: DeployInput): Promise<DeployResult> => client.promote(input);
  const failureOf = async (p: Promise<unknown>): Promise<ApplicationFailure> => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    let cause = (err as WorkflowFailedError).cause;
    // an activity's failure arrives wrapped: WorkflowFailedError → ActivityFailure → ApplicationFailure
    if (cause instanceof ActivityFailure) cause = cause.cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    return cause as ApplicationFailure;
  };
  const refusalOf = async (p: Promise<unknown>): Promise<DeployRefusedError> => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DeployRefusedError);
    return err as DeployRefusedError;
  };
  const awaitStatus = (endpoint: string, status: string) =>
    pollUntil(
      `deployment of ${endpoint} ${status}`,
      async () => ((await client.deploymentStatus(endpoint).catch(() => undefined))?.status === status ? true : undefined),
      { timeoutMs: 30_000 },
    );

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-deploy-'));
    store = new LocalArtifactStore(dir);
    stack = await startTestStack({ queues: ['cpu'], config: { artifactsDir: dir } });
    // D2: a real Arrow file labelled by the sign of x, all test rows (for re-scoring)
    const xs = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 1 : -1) * (0.5 + (i % 7)));
    d2 = (
      await store.put(
        arrowTestFile(
          { rowCount: xs.length, columns: { x: Float64Array.from(xs), y: xs.map((x) => (x > 0 ? 'pos' : 'neg')) } },
          xs.map(() => 'test'),
        ),
        { mediaType: 'application/vnd.apache.arrow.file', extension: '.arrow' },
      )
    ).sha256;
    await stack.db.pool.query('INSERT INTO sluice.datasets (id, row_count) VALUES ($1, 1000), ($2, 40)', [D1, d2]);
    client = await SluiceClient.connect({ config: stack.config, address: testTemporalAddress() });
  });
  afterAll(async () => {
    await client?.close();
    await stack?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a first deploy passes the gate with no champion (recorded), creates the endpoint and makes the candidate champion', async () => {
    const v1 = await register('first', { accuracy: 0.7 });
    const r = await deploy({ model: 'first', version: v1.version, endpoint: 'first', policy: gatePolicy(), actor: 'alice' });
    expect(r).toMatchObject({ status: 'promoted', championBefore: null, championAfter: 1, gate: { passed: true, noChampion: true } });
    const ep = await stack.db.pool.query('SELECT model_name, input_schema, created_by FROM sluice.endpoints WHERE endpoint = $1', [
      'first',
    ]);
    expect(ep.rows).toEqual([
      {
        model_name: 'first',
        input_schema: rowSchema(readModelSignature(exportModelToOnnx(signModel(1)))),
        created_by: deployWorkflowId('first'),
      },
    ]);
    expect(await champion('first')).toBe(1);
    expect(await alias('first', 'previous')).toBeNull();
    const events = await stack.db.pool.query(
      'SELECT alias, version, previous_version, actor FROM sluice.model_alias_events WHERE name = $1',
      ['first'],
    );
    expect(events.rows).toEqual([{ alias: 'champion', version: 1, previous_version: null, actor: 'alice' }]);
    const d = await client.temporal.workflow.getHandle(deployWorkflowId('first')).describe();
    expect(d.typedSearchAttributes.get(SluiceModel)).toBe('first@1');
    expect(d.typedSearchAttributes.get(SluiceStatus)).toBe('promoted');
    expect(d.typedSearchAttributes.get(SluiceStep)).toBe('promote');
  });

  it('promotes a candidate that beats the champion by the margin (old champion → previous); rejects one that does not, or breaks a guard, with the numbers', async () => {
    await register('gated', { accuracy: 0.8, logLoss: 0.5 });
    const v2 = await register('gated', { accuracy: 0.9, logLoss: 0.4 });
    await deploy({ model: 'gated', version: 1, endpoint: 'gated', policy: gatePolicy() });
    const promoted = await deploy({
      model: 'gated',
      version: v2.version,
      endpoint: 'gated',
      policy: gatePolicy({ gate: { metric: 'accuracy', margin: 0.05 } }),
    });
    expect(promoted).toMatchObject({ status: 'promoted', championBefore: 1, championAfter: 2 });
    expect(promoted.gate).toMatchObject({
      basis: 'recorded',
      primary: { metric: 'accuracy', candidate: 0.9, champion: 0.8, passed: true },
    });
    expect([await champion('gated'), await alias('gated', 'previous')]).toEqual([2, 1]);

    const v3 = await register('gated', { accuracy: 0.93, logLoss: 0.9 });
    const margin = await deploy({
      model: 'gated',
      version: v3.version,
      endpoint: 'gated',
      policy: gatePolicy({ gate: { metric: 'accuracy', margin: 0.05 } }),
    });
    expect(margin.status).toBe('rejected');
    expect(margin.gate.primary?.improvement).toBeCloseTo(0.03, 10);
    expect(margin.gate.reasons.join(' ')).toMatch(/accuracy: candidate 0.93 vs champion 0.9 improves by 0.03.*at least 0.05/);
    const guard = await deploy({
      model: 'gated',
      version: v3.version,
      endpoint: 'gated',
      policy: gatePolicy({ gate: { metric: 'accuracy', margin: 0.01, guards: [{ metric: 'logLoss', maxWorsening: 0.1 }] } }),
    });
    expect(guard).toMatchObject({ status: 'rejected', championAfter: 2, gate: { passed: false, primary: { passed: true } } });
    expect(guard.gate.reasons).toEqual([
      expect.stringMatching(/guard logLoss: candidate 0.9 vs champion 0.4 is worse by 0.5, at most 0.1/),
    ]);
    expect([await champion('gated'), await alias('gated', 'previous')]).toEqual([2, 1]);
    const d = await client.temporal.workflow.getHandle(deployWorkflowId('gated')).describe();
    expect(d.typedSearchAttributes.get(SluiceStatus)).toBe('rejected');
  });

  it("re-scores both models on the candidate's test split when their datasets differ", async () => {
    // recorded numbers say the champion is far better; on D2 it is always wrong and the candidate always right
    await register('rescored', { accuracy: 0.99 }, { w: -1 });
    await deploy({ model: 'rescored', version: 1, endpoint: 'rescored', policy: gatePolicy() });
    const v2 = await register('rescored', { accuracy: 0.5 }, { datasetId: d2 });
    const r = await deploy({
      model: 'rescored',
      version: v2.version,
      endpoint: 'rescored',
      policy: gatePolicy({ gate: { metric: 'accuracy', margin: 0.5 } }),
    });
    expect(r.gate).toMatchObject({ basis: 'rescored', primary: { candidate: 1, champion: 0, passed: true } });
    expect(r.status).toBe('promoted');
    expect(await champion('rescored')).toBe(2);
  });

  it('approval: validators refuse an empty who or reason; an approval is recorded (run event, memo) and promotes; nothing is pending afterwards', async () => {
    await register('approved', { accuracy: 0.8 });
    await deploy({ model: 'approved', version: 1, endpoint: 'approved', policy: gatePolicy() });
    const v2 = await register('approved', { accuracy: 0.9 });
    const handle = await client.deploy({
      model: 'approved',
      version: v2.version,
      endpoint: 'approved',
      policy: gatePolicy({ approval: { required: true, timeoutSeconds: 120 } }),
    });
    await awaitStatus('approved', 'awaiting-approval');
    const status = await client.deploymentStatus('approved');
    expect(status.state).toMatchObject({ status: 'awaiting-approval', step: 'approval', gate: { passed: true } });
    expect((await handle.describe()).typedSearchAttributes.get(SluiceStep)).toBe('approval');
    // the UI's list of deployments awaiting approval
    const listed = await pollUntil('the visibility listing', async () => {
      for await (const w of client.temporal.workflow.list({ query: 'SluiceStatus = "awaiting-approval"' })) return w.workflowId;
      return undefined;
    });
    expect(listed).toBe(deployWorkflowId('approved'));

    // a rollback while the deployment waits is refused, not raced
    const early = await refusalOf(client.rollback('approved', { who: 'bob' }));
    expect(early.type).toBe(ErrorCodes.DeployConflict);
    expect(early.message).toMatch(/cannot roll back now \(status awaiting-approval, step approval\)/);
    expect((await refusalOf(client.approve('approved', { who: '  ', reason: 'ok' }))).type).toBe(ErrorCodes.InvalidInput);
    expect((await refusalOf(client.approve('approved', { who: 'bob', reason: '' }))).message).toMatch(/reason/);
    const decision = await client.approve('approved', { who: 'bob', reason: 'numbers look right' });
    expect(decision).toMatchObject({ decision: 'approved', who: 'bob', reason: 'numbers look right' });
    const r = await handle.result();
    expect(r).toMatchObject({ status: 'promoted', approval: { decision: 'approved', who: 'bob' }, championAfter: 2 });
    expect((await handle.describe()).memo).toMatchObject({ approval: { decision: 'approved', who: 'bob' } });
    const ev = await stack.db.pool.query<{ details: { decision: { who: string } } }>(
      "SELECT details FROM sluice.run_events WHERE workflow_id = $1 AND step = 'recordApproval' AND status = 'completed'",
      [deployWorkflowId('approved')],
    );
    expect(ev.rows.map((e) => e.details.decision.who)).toContain('bob');
    expect((await refusalOf(client.approve('approved', { who: 'bob', reason: 'again' }))).type).toBe(ErrorCodes.DeployNotPending);
  });

  it('approval expires on its durable timer: status expired, a later approval is refused, the champion unchanged; a rejection rejects', async () => {
    await register('expiring', { accuracy: 0.8 });
    await deploy({ model: 'expiring', version: 1, endpoint: 'expiring', policy: gatePolicy() });
    const v2 = await register('expiring', { accuracy: 0.9 });
    const input = {
      model: 'expiring',
      version: v2.version,
      endpoint: 'expiring',
      policy: gatePolicy({ approval: { required: true, timeoutSeconds: 2 } }),
    };
    const r = await deploy(input);
    expect(r).toMatchObject({ status: 'expired', approval: { decision: 'expired' }, championAfter: 1 });
    const late = await refusalOf(client.approve('expiring', { who: 'carol', reason: 'late' }));
    expect(late.type).toBe(ErrorCodes.DeployNotPending);
    expect(late.message).toMatch(/expired/);
    expect(await champion('expiring')).toBe(1);

    const handle = await client.deploy({ ...input, policy: gatePolicy({ approval: { required: true, timeoutSeconds: 120 } }) });
    await awaitStatus('expiring', 'awaiting-approval');
    await client.reject('expiring', { who: 'carol', reason: 'not this week' });
    expect(await handle.result()).toMatchObject({ status: 'rejected', approval: { decision: 'rejected', who: 'carol' } });
    expect(await champion('expiring')).toBe(1);
  });

  it("two deploys of one endpoint: 'refuse' is refused at once, 'wait' starts when the first ends; never two at once", async () => {
    await register('busy', { accuracy: 0.8 });
    await deploy({ model: 'busy', version: 1, endpoint: 'busy', policy: gatePolicy() });
    const v2 = await register('busy', { accuracy: 0.9 });
    const v3 = await register('busy', { accuracy: 0.95 });
    const first = await client.deploy({
      model: 'busy',
      version: v2.version,
      endpoint: 'busy',
      policy: gatePolicy({ approval: { required: true, timeoutSeconds: 120 } }),
    });
    await awaitStatus('busy', 'awaiting-approval');
    const refused = await refusalOf(client.deploy({ model: 'busy', version: v3.version, endpoint: 'busy', policy: gatePolicy() }));
    expect(refused.type).toBe(ErrorCodes.DeployConflict);
    expect(refused.message).toMatch(/endpoint busy has deploy \(awaiting-approval\) running as workflow deploy-busy.*onConflict: 'refuse'/);

    const waiting = client.deploy({ model: 'busy', version: v3.version, endpoint: 'busy', policy: gatePolicy({ onConflict: 'wait' }) });
    await new Promise((r) => setTimeout(r, 1000));
    expect(await champion('busy')).toBe(1);
    await client.reject('busy', { who: 'dave', reason: 'v3 is coming' });
    expect(await first.result()).toMatchObject({ status: 'rejected' });
    const second = await waiting;
    expect(second.firstExecutionRunId).not.toBe(first.firstExecutionRunId);
    expect(await second.result()).toMatchObject({ status: 'promoted', championBefore: 1, championAfter: 3 });
    expect([await champion('busy'), await alias('busy', 'previous')]).toEqual([3, 1]);
  });

  it('bad input fails with a clear typed error and leaves the champion as it was: unknown version, corrupt ONNX, other inputs', async () => {
    await register('guarded', { accuracy: 0.8 });
    await deploy({ model: 'guarded', version: 1, endpoint: 'guarded', policy: gatePolicy() });
    const eventsBefore = (await stack.db.pool.query("SELECT count(*)::int AS n FROM sluice.model_alias_events WHERE name = 'guarded'"))
      .rows[0].n as number;

    const unknown = await failureOf(deploy({ model: 'guarded', version: 9, endpoint: 'guarded', policy: gatePolicy() }));
    expect(unknown.type).toBe(ErrorCodes.UnknownModel);
    expect(unknown.message).toMatch(/model guarded@9 is not registered/);
    expect((await client.temporal.workflow.getHandle(deployWorkflowId('guarded')).describe()).typedSearchAttributes.get(SluiceStatus)).toBe(
      'failed',
    );

    // another file (so another sha256), damaged on disk after registration
    const corrupt = await registerVersion(stack.db.pool, store, 'guarded', {
      datasetId: D1,
      metrics: { accuracy: 0.99 },
      model: signModel(2),
    });
    const file = corrupt.onnxUri.startsWith('file://') ? new URL(corrupt.onnxUri).pathname : corrupt.onnxUri;
    fs.chmodSync(file, 0o644);
    fs.appendFileSync(file, Buffer.from([0]));
    const damaged = await failureOf(deploy({ model: 'guarded', version: corrupt.version, endpoint: 'guarded', policy: gatePolicy() }));
    expect(damaged.type).toBe(ErrorCodes.ArtifactCorrupt);
    expect(damaged.message).toMatch(/ONNX model of guarded@2 .* refusing to use it/);

    const other = await register('guarded', { accuracy: 0.99 }, { feature: 'z' });
    const mismatch = await failureOf(deploy({ model: 'guarded', version: other.version, endpoint: 'guarded', policy: gatePolicy() }));
    expect(mismatch.type).toBe(ErrorCodes.SignatureMismatch);
    expect(mismatch.message).toMatch(/guarded@3 cannot serve endpoint guarded in place of guarded@1: numeric features differ/);

    await register('neighbour', { accuracy: 0.5 });
    await deploy({ model: 'neighbour', version: 1, endpoint: 'neighbour', policy: gatePolicy() });
    const wrongEndpoint = await failureOf(deploy({ model: 'guarded', version: 1, endpoint: 'neighbour', policy: gatePolicy() }));
    expect(wrongEndpoint.message).toMatch(/endpoint neighbour serves model neighbour, not guarded/);

    expect(await champion('guarded')).toBe(1);
    expect((await stack.db.pool.query("SELECT count(*)::int AS n FROM sluice.model_alias_events WHERE name = 'guarded'")).rows[0].n).toBe(
      eventsBefore,
    );
  });

  it('shadow: a session is opened, waited out on prediction events from the log, compared (agreement, latency, labels), ended; each threshold rejects', async () => {
    await register('shadowed', { accuracy: 0.8 });
    await deploy({ model: 'shadowed', version: 1, endpoint: SHADOW_ENDPOINT, policy: gatePolicy() });
    const v2 = await register('shadowed', { accuracy: 0.9 });
    const shadowPolicy = { maxRequests: 6, windowSeconds: 120, minAgreement: 0.8, maxLatencyRatio: 5 };
    const start = async (shadow: ShadowPolicy) => {
      const handle = await client.deploy({
        model: 'shadowed',
        version: v2.version,
        endpoint: SHADOW_ENDPOINT,
        policy: gatePolicy({ shadow }),
      });
      const sessionId = await pollUntil('a shadow session', async () => {
        const { rows } = await stack.db.pool.query<{ id: string }>('SELECT id::text FROM sluice.shadow_sessions WHERE run_id = $1', [
          handle.firstExecutionRunId,
        ]);
        return rows[0]?.id;
      });
      return { handle, sessionId };
    };
    const sessionEnd = async (sessionId: string) =>
      (await stack.db.pool.query('SELECT outcome FROM sluice.shadow_session_ends WHERE session_id = $1', [sessionId])).rows;
    const run = async (agree: (i: number) => boolean, shadow: ShadowPolicy = shadowPolicy, labelled = false) => {
      const { handle, sessionId } = await start(shadow);
      expect((await handle.describe()).typedSearchAttributes.get(SluiceStep)).toBe('shadow');
      const predictions = shadowedPredictions(sessionId, 6, { agree, championVersion: 1, candidateVersion: 2 });
      if (labelled) {
        // the truth arrives later, in its own source: the champion's answers were right
        const labels = predictions.map((p) => ({ request_id: p.request_id, label: (p.outputs as { label: string }).label }));
        await client.ingest('labels_deploy_test', labels);
      }
      await client.ingest(`predictions_${SHADOW_ENDPOINT}`, predictions);
      const result = await handle.result();
      expect(await sessionEnd(sessionId)).toEqual([{ outcome: 'completed' }]);
      return result;
    };
    const disagreeing = await run((i) => i < 3);
    expect(disagreeing).toMatchObject({ status: 'rejected', shadow: { requests: 6, agreement: 0.5, passed: false }, championAfter: 1 });
    expect(disagreeing.shadow?.reasons).toEqual([expect.stringMatching(/agreement with the champion 0.5 is below the policy's 0.8/)]);

    const worseOnLabels = await run(
      (i) => i < 3,
      { ...shadowPolicy, minAgreement: 0.4, labels: { source: 'labels_deploy_test', maxMetricWorsening: 0.1 } },
      true,
    );
    expect(worseOnLabels).toMatchObject({
      status: 'rejected',
      shadow: { labelled: { requests: 6, metric: 'accuracy', champion: 1, candidate: 0.5, worsening: 0.5 }, passed: false },
    });
    expect(worseOnLabels.shadow?.reasons).toEqual([
      expect.stringMatching(
        /on 6 labelled requests the candidate's accuracy 0.5 is worse than the champion's 1 by 0.5; at most 0.1 allowed/,
      ),
    ]);

    const slow = await run(() => true, { ...shadowPolicy, maxLatencyRatio: 1.1 });
    expect(slow.shadow?.reasons).toEqual([expect.stringMatching(/candidate p99 latency is 1.\d+× the champion's; the policy allows 1.1×/)]);
    expect(await champion('shadowed')).toBe(1);

    // cancelled mid-shadow: the session still ends (cancelled), nothing is promoted
    const cancelled = await start(shadowPolicy);
    await cancelled.handle.cancel();
    await expect(cancelled.handle.result()).rejects.toThrow();
    await pollUntil('the cancelled session end', async () => ((await sessionEnd(cancelled.sessionId)).length > 0 ? true : undefined));
    expect(await sessionEnd(cancelled.sessionId)).toEqual([{ outcome: 'cancelled' }]);
    expect(await champion('shadowed')).toBe(1);

    const agreeing = await run(() => true);
    expect(agreeing).toMatchObject({ status: 'promoted', shadow: { requests: 6, agreement: 1, passed: true }, championAfter: 2 });
    expect(agreeing.shadow?.champion.p50Ms).toBe(2);
    expect(agreeing.shadow?.candidate.p50Ms).toBe(3);
  });

  it('sluice rollback walks back the recorded history: v3 → v2 → v1, then refuses; an endpoint with one champion refuses at once', async () => {
    for (const a of [0.7, 0.8, 0.9]) {
      const v = await register('rolled', { accuracy: a });
      await deploy({ model: 'rolled', version: v.version, endpoint: 'rolled', policy: gatePolicy() });
    }
    expect([await champion('rolled'), await alias('rolled', 'previous')]).toEqual([3, 2]);
    const env = {
      ...process.env,
      TEMPORAL_ADDRESS: testTemporalAddress(),
      TEMPORAL_NAMESPACE: stack.config.temporal.namespace,
      SLUICE_TASK_QUEUE_CPU: stack.config.taskQueues.cpu,
    };
    const cli = async (args: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await runCli(args, { out: (t) => void out.push(t), err: (t) => void err.push(t), env });
      return { code, out: out.join(''), err: err.join('') };
    };
    expect(await cli(['rollback', 'rolled', '--who', 'erin', '--reason', 'p99 up'])).toMatchObject({
      code: 0,
      out: 'rolled: rolled@3 → rolled@2 (previous is now rolled@1)\n',
    });
    await recordHistoryIfAsked(stack.client, 'deploy-rolled', 'rollback');
    expect([await champion('rolled'), await alias('rolled', 'previous')]).toEqual([2, 1]);
    expect(await cli(['rollback', 'rolled', '--who', 'erin'])).toMatchObject({
      code: 0,
      out: 'rolled: rolled@2 → rolled@1 (previous is now rolled@1)\n',
    });
    const third = await cli(['rollback', 'rolled', '--who', 'erin']);
    expect(third.code).toBe(1);
    expect(third.err).toMatch(/no champion before rolled@1 in its history: nothing to roll back to.*SLUICE_NO_PREVIOUS_CHAMPION/);
    expect([await champion('rolled'), await alias('rolled', 'previous')]).toEqual([1, 1]);
    const moves = await stack.db.pool.query(
      'SELECT alias, version, actor, reason FROM sluice.model_alias_events WHERE name = $1 ORDER BY id',
      ['rolled'],
    );
    expect(moves.rows.filter((m: { reason: string }) => m.reason.startsWith('rollback'))).toEqual([
      { alias: 'champion', version: 2, actor: 'erin', reason: 'rollback: p99 up' },
      { alias: 'previous', version: 1, actor: 'erin', reason: 'rollback: p99 up' },
      { alias: 'champion', version: 1, actor: 'erin', reason: 'rollback: from rolled@2' },
    ]);
    await register('lonely', { accuracy: 0.5 });
    await deploy({ model: 'lonely', version: 1, endpoint: 'lonely', policy: gatePolicy() });
    expect(await cli(['rollback', 'lonely', '--who', 'erin'])).toMatchObject({
      code: 1,
      err: expect.stringMatching(/no champion before lonely@1/),
    });
    expect(await champion('lonely')).toBe(1);
    expect((await cli(['rollback', 'nowhere', '--who', 'erin'])).err).toMatch(/endpoint nowhere does not exist/);
    expect((await cli(['rollback'])).code).toBe(2);
  });

  it('a promotion or a rollback retried after it had committed (a crash before the activity reported) moves nothing again', async () => {
    for (const a of [0.7, 0.8]) await register('retried', { accuracy: a });
    const schema = rowSchema(readModelSignature(exportModelToOnnx(signModel(1))));
    const run = { actor: 'deploy', reason: 'deploy', workflowId: 'deploy-retried', runId: 'run-a' };
    const promote = (version: number, expectedChampion: number | null, runId: string) =>
      promoteOnEndpoint(stack.db.pool, {
        ...run,
        runId,
        model: 'retried',
        version,
        endpoint: 'retried',
        expectedChampion,
        inputSchema: schema,
      });
    await promote(1, null, 'run-1');
    expect(await promote(2, 1, 'run-2')).toMatchObject({ championBefore: 1, championAfter: 2, changed: true });
    expect(await promote(2, 1, 'run-2')).toMatchObject({ championAfter: 2, changed: false });
    const moves = async () =>
      (await stack.db.pool.query('SELECT alias, version FROM sluice.model_alias_events WHERE name = $1 ORDER BY id', ['retried'])).rows;
    expect(await moves()).toEqual([
      { alias: 'champion', version: 1 },
      { alias: 'champion', version: 2 },
      { alias: 'previous', version: 1 },
    ]);
    // another promotion that gated against a champion that has moved since is refused
    await expect(promote(1, null, 'run-3')).rejects.toMatchObject({ code: ErrorCodes.ChampionMoved });

    const rb = { actor: 'erin', reason: 'p99', workflowId: 'deploy-retried', runId: 'run-rb' };
    expect(await rollbackEndpoint(stack.db.pool, 'retried', rb)).toEqual({
      endpoint: 'retried',
      model: 'retried',
      from: 2,
      to: 1,
      previous: 1,
    });
    expect(await rollbackEndpoint(stack.db.pool, 'retried', rb)).toEqual({
      endpoint: 'retried',
      model: 'retried',
      from: 2,
      to: 1,
      previous: 1,
    });
    expect((await moves()).length).toBe(4); // champion → 1; previous already pointed at 1
    expect([await champion('retried'), await alias('retried', 'previous')]).toEqual([1, 1]);
  });

  it('during the watch period, a rollback goes through the deployment itself (update), which ends rolled-back', async () => {
    await register('watched', { accuracy: 0.8 });
    await deploy({ model: 'watched', version: 1, endpoint: 'watched', policy: gatePolicy() });
    const v2 = await register('watched', { accuracy: 0.9 });
    const handle = await client.deploy({
      model: 'watched',
      version: v2.version,
      endpoint: 'watched',
      policy: gatePolicy({ watchSeconds: 120 }),
    });
    await pollUntil('the watch period', async () =>
      (await client.deploymentStatus('watched')).state?.step === 'watch' ? true : undefined,
    );
    expect(await champion('watched')).toBe(2);
    const r = await client.rollback('watched', { who: 'frank', reason: 'alerts' });
    expect(r).toEqual({ endpoint: 'watched', model: 'watched', from: 2, to: 1, previous: 1 });
    expect(await handle.result()).toMatchObject({ status: 'rolled-back', championAfter: 1, rollback: { from: 2, to: 1 } });
    expect((await handle.describe()).typedSearchAttributes.get(SluiceStatus)).toBe('rolled-back');
    expect(await champion('watched')).toBe(1);

    // the fire-and-forget form: a signal
    const again = await client.deploy({
      model: 'watched',
      version: v2.version,
      endpoint: 'watched',
      policy: gatePolicy({ watchSeconds: 120 }),
    });
    await pollUntil('the watch period', async () =>
      (await client.deploymentStatus('watched')).state?.step === 'watch' ? true : undefined,
    );
    await again.signal(rollbackSignal, { who: 'frank', reason: 'signal' });
    expect(await again.result()).toMatchObject({ status: 'rolled-back', championAfter: 1, rollback: { from: 2, to: 1 } });
    expect([await champion('watched'), await alias('watched', 'previous')]).toEqual([1, 1]);
  });
});
