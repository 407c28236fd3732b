import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Float32, Float64, Table, Utf8, tableFromIPC, tableToIPC, vectorFromArray } from 'apache-arrow';
import { LocalArtifactStore } from '../../activities/artifacts';
import { exportModelToOnnx } from '../../activities/onnx';
import { objectRows, predictionSource, RowChecker } from '../../activities/serve';
import { predict, trainModel, type TrainedModel } from '../../activities/train';
import { canonicalJson, sha256Hex } from '../../contracts/canonical';
import { startScoringService, type ScoringService } from '../../workers/serve';
import { createTestDatabase, type TestDatabase } from '../helpers/env';
import { knownModel } from '../helpers/models';
import { createTestEndpoint, insertTestDataset, openShadowSession, promote, registerTestModel } from '../helpers/serve';
import { mixedDataset, sliceRows } from '../helpers/trainData';

const TOKEN = 'serve-test-token';
const auth = { authorization: `Bearer ${TOKEN}` };

interface Answer {
  status: number;
  headers: Headers;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

describe('scoring service', () => {
  let db: TestDatabase;
  let dir: string;
  let store: LocalArtifactStore;
  let service: ScoringService;
  const logs: string[] = [];
  const models: Record<number, TrainedModel> = {};
  const versions: Record<number, { sha256: string }> = {};
  const { data } = mixedDataset(900, 'binary');
  const features = ['age', 'color', 'income', 'size', 'score'] as const;
  /** Row i of the dataset as a request row. */
  const rowOf = (i: number): Record<string, unknown> =>
    Object.fromEntries(features.map((f) => [f, (data.columns[f] as ArrayLike<unknown>)[i]]));
  let base: string;

  const start = (serve: Record<string, unknown> = {}) =>
    startScoringService({
      config: { serve: { token: TOKEN, pollMs: 300, logFlushMs: 50, maxRows: 1000, ...serve } },
      pool: db.pool,
      artifacts: store,
      port: 0,
      log: (m) => void logs.push(m),
    });

  async function call(
    pathname: string,
    init: { method?: string; headers?: Record<string, string>; body?: string | Uint8Array } = {},
  ): Promise<Answer> {
    const res = await fetch(`${base}${pathname}`, { method: init.method ?? 'POST', headers: init.headers, body: init.body });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // /metrics is text
    }
    return { status: res.status, headers: res.headers, body };
  }
  const predictRows = (endpoint: string, rows: unknown, headers: Record<string, string> = auth) =>
    call(`/v1/endpoints/${endpoint}/predict`, {
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ rows }),
    });

  async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await fn();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const logged = async (requestId: string) =>
    (
      await db.pool.query<{ event_id: string; contract: string; payload: any }>( // eslint-disable-line @typescript-eslint/no-explicit-any
        `SELECT event_id, contract, payload FROM sluice.raw_events WHERE source = $1 AND payload->>'request_id' = $2 ORDER BY event_id`,
        [predictionSource('churn'), requestId],
      )
    ).rows;

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-serve-'));
    store = new LocalArtifactStore(dir);
    await insertTestDataset(db.pool);
    // three versions of churn, trained on different rows (different bytes, different answers)
    const { spec } = mixedDataset(900, 'binary');
    for (const [v, [from, to]] of [
      [1, [0, 300]],
      [2, [300, 600]],
      [3, [600, 900]],
    ] as const) {
      models[v] = trainModel({ data: sliceRows(data, from, to), spec, trainer: { trainer: 'logistic_regression' }, seed: v });
      const r = await registerTestModel(db.pool, store, 'churn', models[v] as TrainedModel, `run-${v}`);
      expect(r.version).toBe(v);
      versions[v] = { sha256: r.onnx.sha256 };
    }
    await createTestEndpoint(db.pool, 'churn', 'churn', exportModelToOnnx(models[1] as TrainedModel));
    await promote(db.pool, 'churn', 1, 'churn', false);
    // a regression endpoint (2x + 1) with a '-' in its name
    const price = await registerTestModel(db.pool, store, 'price', knownModel('regression'), 'run-p');
    await createTestEndpoint(db.pool, 'price-eu', 'price', price.bytes);
    await promote(db.pool, 'price', price.version, 'price-eu', false);
    // an endpoint whose only model's file was changed on disk after it was registered
    const fraud = await registerTestModel(db.pool, store, 'fraud', knownModel('binary'), 'run-f');
    fs.writeFileSync(new URL(fraud.onnx.uri), exportModelToOnnx(knownModel('binary', ['ok', 'fraud'])));
    await createTestEndpoint(db.pool, 'fraud', 'fraud', fraud.bytes);
    await promote(db.pool, 'fraud', fraud.version, 'fraud', false);
    // an endpoint whose model has no champion yet
    await createTestEndpoint(db.pool, 'empty', 'nothing', fraud.bytes);
    service = await start();
    base = `http://127.0.0.1:${service.port}`;
  });
  afterAll(async () => {
    await service?.close();
    await db?.drop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("answers JSON rows with the champion's labels and class probabilities, its name, version and sha256, and a request id", async () => {
    const rows = [rowOf(0), rowOf(1), { ...rowOf(2), color: null }];
    const a = await predictRows('churn', rows);
    expect(a.status).toBe(200);
    expect(a.body.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.headers.get('x-request-id')).toBe(a.body.requestId);
    expect(a.body.model).toEqual({ name: 'churn', version: 1, sha256: versions[1]?.sha256 });
    expect(a.body.endpoint).toBe('churn');
    // the same probabilities as the trained model computes in JavaScript
    const expected = predict(models[1] as TrainedModel, {
      rowCount: 3,
      columns: Object.fromEntries(features.map((f) => [f, rows.map((r) => r[f] as number | string | null)])),
    });
    expect(a.body.predictions).toHaveLength(3);
    a.body.predictions.forEach((p: { label: string; probabilities: Record<string, number> }, r: number) => {
      const probs = expected.task === 'regression' ? [] : expected.probabilities;
      expect(Object.keys(p.probabilities)).toEqual(['no', 'yes']);
      expect(p.probabilities.no).toBeCloseTo(probs[2 * r] as number, 5);
      expect(p.probabilities.yes).toBeCloseTo(probs[2 * r + 1] as number, 5);
      expect(p.label).toBe((probs[2 * r + 1] as number) > 0.5 ? 'yes' : 'no');
    });
  });

  it('answers in Arrow when the client asks for it: the JSON answer as columns, its identity in the metadata; errors stay JSON', async () => {
    const rows = [rowOf(0), rowOf(1), { ...rowOf(2), color: null }];
    const json = await predictRows('churn', rows);
    const arrowAnswer = async (endpoint: string, body: unknown[], accept: string) => {
      const res = await fetch(`${base}/v1/endpoints/${endpoint}/predict`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json', accept },
        body: JSON.stringify({ rows: body }),
      });
      return { status: res.status, type: res.headers.get('content-type'), bytes: new Uint8Array(await res.arrayBuffer()) };
    };
    const a = await arrowAnswer('churn', rows, 'application/vnd.apache.arrow.stream');
    expect([a.status, a.type]).toEqual([200, 'application/vnd.apache.arrow.stream']);
    const table = tableFromIPC(a.bytes);
    expect(table.numRows).toBe(3);
    const meta = Object.fromEntries(table.schema.metadata);
    expect(meta).toEqual({
      requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      endpoint: 'churn',
      'model.name': 'churn',
      'model.version': '1',
      'model.sha256': versions[1]?.sha256,
    });
    // the same predictions as the JSON answer (probabilities are float32 in both)
    expect(table.toArray().map((r) => JSON.parse(JSON.stringify(r.toJSON())))).toEqual(json.body.predictions);
    const regression = await arrowAnswer(
      'price-eu',
      [{ x: 1.5 }, { x: -2 }],
      'application/json;q=0.5, application/vnd.apache.arrow.stream',
    );
    expect(Array.from(tableFromIPC(regression.bytes).getChild('value')!.toArray() as Float32Array)).toEqual([4, -3]);
    // JSON preferred, or not named: JSON
    for (const accept of ['application/json, application/vnd.apache.arrow.stream', '*/*', 'application/vnd.apache.arrow.stream;q=0']) {
      const j = await arrowAnswer('price-eu', [{ x: 1.5 }], accept);
      expect([j.type, JSON.parse(Buffer.from(j.bytes).toString()).predictions]).toEqual(['application/json', [{ value: 4 }]]);
    }
    const bad = await arrowAnswer('price-eu', [{ x: 'a' }], 'application/vnd.apache.arrow.stream');
    expect([bad.status, bad.type, JSON.parse(Buffer.from(bad.bytes).toString()).error.issues[0]]).toEqual([
      400,
      'application/json',
      { row: 0, field: 'x', message: 'must be number' },
    ]);
  });

  it('answers a regression endpoint with values, and reads an Arrow IPC stream body like JSON', async () => {
    const json = await predictRows('price-eu', [{ x: 1.5 }, { x: -2 }]);
    expect(json.status).toBe(200);
    expect(json.body.predictions).toEqual([{ value: 4 }, { value: -3 }]);
    const arrow = tableToIPC(new Table({ x: vectorFromArray([1.5, -2], new Float32()) }), 'stream');
    const a = await call('/v1/endpoints/price-eu/predict', {
      headers: { ...auth, 'content-type': 'application/vnd.apache.arrow.stream' },
      body: arrow,
    });
    expect(a.status).toBe(200);
    expect(a.body.predictions).toEqual([{ value: 4 }, { value: -3 }]);
  });

  it("decodes a numbers-only model's plain JSON body without JSON.parse: the general path's answers, errors and logged digests", async () => {
    const fast = jest.spyOn(RowChecker.prototype, 'fastJson');
    const send = (body: string) =>
      call('/v1/endpoints/price-eu/predict', { headers: { ...auth, 'content-type': 'application/json' }, body });
    try {
      const plain = await send('{"rows":[{"x":1.5},{"x":-2e0},{"x":0.30000000000000004}]}');
      const plainDecoded = fast.mock.results.at(-1)?.value;
      // an escaped key and another top-level field: valid, but for the general path
      const general = await send('{"note":"general path","rows":[{"\\u0078":1.5},{"x":-2e0},{"x":0.30000000000000004}]}');
      const generalDecoded = fast.mock.results.at(-1)?.value;
      expect(plainDecoded).toBeDefined();
      expect(generalDecoded).toBeUndefined();
      expect([plain.status, general.status]).toEqual([200, 200]);
      expect(plain.body.predictions).toEqual(general.body.predictions);
      expect(plain.body.predictions.slice(0, 2)).toEqual([{ value: 4 }, { value: -3 }]);
      // what the decoder cannot take goes to the general path, which names the row and field
      const bad = await send('{"rows":[{"x":1},{"x":"2"}]}');
      expect([bad.status, bad.body.error.issues[0]]).toEqual([400, { row: 1, field: 'x', message: 'must be number' }]);
      const source = predictionSource('price-eu');
      const digests = async (requestId: string) =>
        waitFor(`the prediction events of ${requestId}`, async () => {
          const r = await db.pool.query<{ d: string }>(
            `SELECT payload->>'inputs_digest' AS d FROM sluice.raw_events WHERE source = $1 AND payload->>'request_id' = $2 ORDER BY (payload->>'row')::int`,
            [source, requestId],
          );
          return r.rows.length === 3 ? r.rows.map((x) => x.d) : undefined;
        });
      const expected = [{ x: 1.5 }, { x: -2 }, { x: 0.30000000000000004 }].map((row) => sha256Hex(canonicalJson(row)));
      expect(await digests(plain.body.requestId)).toEqual(expected);
      expect(await digests(general.body.requestId)).toEqual(expected);
    } finally {
      fast.mockRestore();
    }
  });

  it('refuses rows that do not fit the model with a 400 naming the row and the field, before any scoring', async () => {
    const cases: [unknown[], { row: number; field: string; message: RegExp }][] = [
      [[rowOf(0), { ...rowOf(1), plan: 'gold' }], { row: 1, field: 'plan', message: /no such feature/ }],
      [[rowOf(0), rowOf(1), (({ income, ...rest }) => (void income, rest))(rowOf(2))], { row: 2, field: 'income', message: /missing/ }],
      [[{ ...rowOf(0), age: '42' }], { row: 0, field: 'age', message: /must be number/ }],
      [[{ ...rowOf(0), color: 3 }], { row: 0, field: 'color', message: /must be string,null/ }],
      [[{ ...rowOf(0), score: null }], { row: 0, field: 'score', message: /must be number/ }],
      [['not a row'], { row: 0, field: '', message: /must be object/ }],
    ];
    for (const [rows, issue] of cases) {
      const a = await predictRows('churn', rows);
      expect({ status: a.status, code: a.body.error.code }).toEqual({ status: 400, code: 'SLUICE_INVALID_ROWS' });
      expect(a.body.error.issues[0]).toEqual({ row: issue.row, field: issue.field, message: expect.stringMatching(issue.message) });
      expect(a.body.error.message).toContain(`row ${issue.row}`);
    }
    // JSON has no Infinity, but 1e999 parses to it; and a number past float32 would become one in the tensor
    for (const literal of ['1e999', '-1e999', '1e39']) {
      const body = `{"rows":[{"x":${literal}}]}`;
      const a = await call('/v1/endpoints/price-eu/predict', { headers: { ...auth, 'content-type': 'application/json' }, body });
      expect(a.status).toBe(400);
      expect(a.body.error.issues[0]).toMatchObject({ row: 0, field: 'x' });
    }
    const empty = await predictRows('churn', []);
    expect([empty.status, empty.body.error.code, empty.body.error.message]).toEqual([
      400,
      'SLUICE_INVALID_ROWS',
      expect.stringMatching(/empty/),
    ]);
    const notRows = await call('/v1/endpoints/churn/predict', { headers: { ...auth, 'content-type': 'application/json' }, body: '[1,2]' });
    expect(notRows.status).toBe(400);
    const notJson = await call('/v1/endpoints/churn/predict', {
      headers: { ...auth, 'content-type': 'application/json' },
      body: '{"rows": [',
    });
    expect([notJson.status, notJson.body.error.message]).toEqual([400, expect.stringMatching(/not JSON/)]);
  });

  it('refuses NaN and Infinity in an Arrow body, naming the row and the column', async () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const body = tableToIPC(new Table({ x: vectorFromArray([1, 2, bad], new Float64()) }), 'stream');
      const a = await call('/v1/endpoints/price-eu/predict', {
        headers: { ...auth, 'content-type': 'application/vnd.apache.arrow.stream' },
        body,
      });
      expect(a.status).toBe(400);
      expect(a.body.error.issues[0]).toEqual({ row: 2, field: 'x', message: expect.stringContaining(String(bad)) });
    }
    // a text column for a numeric feature, an extra column
    const text = tableToIPC(new Table({ x: vectorFromArray(['1'], new Utf8()) }), 'stream');
    const t = await call('/v1/endpoints/price-eu/predict', {
      headers: { ...auth, 'content-type': 'application/vnd.apache.arrow.stream' },
      body: text,
    });
    expect([t.status, t.body.error.issues[0]]).toEqual([400, { row: 0, field: 'x', message: 'must be number' }]);
    const extra = tableToIPC(new Table({ x: vectorFromArray([1], new Float32()), y: vectorFromArray([1], new Float32()) }), 'stream');
    const e = await call('/v1/endpoints/price-eu/predict', {
      headers: { ...auth, 'content-type': 'application/vnd.apache.arrow.stream' },
      body: extra,
    });
    expect([e.status, e.body.error.issues[0].field]).toEqual([400, 'y']);
    const garbage = await call('/v1/endpoints/price-eu/predict', {
      headers: { ...auth, 'content-type': 'application/vnd.apache.arrow.stream' },
      body: 'not arrow',
    });
    expect(garbage.status).toBe(400);
  });

  it('limits: a 10 MB body and too many rows are 413; another Content-Type is 415', async () => {
    const big = `{"rows":[${Array.from({ length: (10 * 1024 * 1024) / 16 }, () => '{"x":1.00000000}').join(',')}]}`;
    expect(big.length).toBeGreaterThan(10_000_000);
    const a = await call('/v1/endpoints/price-eu/predict', { headers: { ...auth, 'content-type': 'application/json' }, body: big });
    expect([a.status, a.body.error.code]).toEqual([413, 'SLUICE_BODY_TOO_LARGE']);
    const many = await predictRows(
      'price-eu',
      Array.from({ length: 1001 }, () => ({ x: 1 })),
    );
    expect([many.status, many.body.error.code, many.body.error.message]).toEqual([
      413,
      'SLUICE_TOO_MANY_ROWS',
      expect.stringMatching(/1001 rows.*1000/),
    ]);
    const csv = await call('/v1/endpoints/price-eu/predict', { headers: { ...auth, 'content-type': 'text/csv' }, body: 'x\n1\n' });
    expect(csv.status).toBe(415);
  });

  it('401 without the right token (before anything else), 404 for an unknown endpoint without listing the others', async () => {
    for (const headers of [
      {} as Record<string, string>,
      { authorization: 'Bearer wrong' },
      { authorization: `Basic ${TOKEN}` },
      { authorization: `Bearer ${TOKEN}x` },
    ]) {
      for (const endpoint of ['churn', 'no-such']) {
        const a = await predictRows(endpoint, [rowOf(0)], headers);
        expect([a.status, a.body.error.code]).toEqual([401, 'SLUICE_UNAUTHORIZED']);
        expect(a.headers.get('www-authenticate')).toBe('Bearer');
      }
    }
    for (const endpoint of ['no-such', 'Churn', '..%2Fchurn', 'a'.repeat(70)]) {
      const a = await predictRows(endpoint, [rowOf(0)]);
      expect([a.status, a.body.error.code]).toEqual([404, 'SLUICE_UNKNOWN_ENDPOINT']);
      expect(JSON.stringify(a.body)).not.toMatch(/price|fraud|empty/);
    }
    const metrics = await call('/metrics', { method: 'GET' });
    expect(metrics.status).toBe(401);
  });

  it('refuses a model file whose sha256 does not match (503 when the endpoint had nothing else), and 503 when there is no champion', async () => {
    const a = await predictRows('fraud', [{ x: 1 }]);
    expect([a.status, a.body.error.code]).toEqual([503, 'SLUICE_MODEL_UNAVAILABLE']);
    expect(a.body.error.message).toMatch(/fraud@1 cannot be served: .*has sha256 [0-9a-f]{64}: the file was changed or damaged/);
    const e = await predictRows('empty', [{ x: 1 }]);
    expect([e.status, e.body.error.message]).toEqual([503, expect.stringMatching(/nothing has no champion/)]);
    expect(logs.some((l) => /endpoint fraud: model fraud@1 cannot be served/.test(l))).toBe(true);
  });

  it("writes every prediction to the log as an event of the endpoint's source, off the request path", async () => {
    const rows = [rowOf(10), { ...rowOf(11), color: null, size: 'M\u00e9' }];
    const a = await predictRows('churn', rows);
    expect(a.status).toBe(200);
    const events = await waitFor('the prediction events', async () => {
      const r = await logged(a.body.requestId);
      return r.length === 2 ? r : undefined;
    });
    expect(events.map((e) => e.event_id)).toEqual([`${a.body.requestId}:0`, `${a.body.requestId}:1`]);
    expect(events[0]?.contract).toBe('predictions');
    const p = events[1]?.payload;
    expect(p).toEqual({
      event_id: `${a.body.requestId}:1`,
      request_id: a.body.requestId,
      endpoint: 'churn',
      row: 1,
      answered_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      model: { name: 'churn', version: 1, sha256: versions[1]?.sha256 },
      inputs_digest: sha256Hex(canonicalJson(rows[1])),
      outputs: a.body.predictions[1],
      latency_ms: expect.any(Number),
    });
    const quarantined = await db.pool.query("SELECT count(*)::int AS n FROM sluice.quarantine WHERE source LIKE 'predictions%'");
    expect(quarantined.rows[0].n).toBe(0);
  });

  /** The prediction events of these requests: [request id, row, digest] per event, and how many rows the log holds for them. */
  async function loggedEvents(requestIds: string[], expected: number) {
    return waitFor('the prediction events', async () => {
      const r = await db.pool.query<{ request_id: string; row: number; digest: string; n: number }>(
        `SELECT payload->>'request_id' AS request_id, (payload->>'row')::int AS row, payload->>'inputs_digest' AS digest,
                count(*) OVER ()::int AS n
           FROM sluice.raw_events WHERE source = $1 AND payload->>'request_id' = ANY($2::text[])
          ORDER BY 1, 2`,
        [predictionSource('churn'), requestIds],
      );
      return r.rows.length >= expected ? r.rows : undefined;
    });
  }

  it('micro-batches concurrent small requests into one session.run, answers each with its own rows, and logs every event once', async () => {
    const rows = Array.from({ length: 40 }, (_, i) => rowOf(100 + i));
    const alone = await predictRows('churn', rows);
    expect(alone.status).toBe(200);
    const champion = service.endpoints.get('churn')?.champion;
    const before = { ...champion?.runs };
    // 40 requests at once (one of them with 2 rows): they reach the model in the same turns of the event loop
    const answers = await Promise.all(rows.map((row, i) => predictRows('churn', i === 7 ? [row, rows[8]] : [row])));
    const after = champion?.runs;
    expect(answers.map((a) => a.status)).toEqual(rows.map(() => 200));
    expect(new Set(answers.map((a) => a.body.model.version))).toEqual(new Set([alone.body.model.version]));
    answers.forEach((a, i) => {
      const own = i === 7 ? [alone.body.predictions[7], alone.body.predictions[8]] : [alone.body.predictions[i]];
      expect(a.body.predictions).toHaveLength(own.length);
      a.body.predictions.forEach((p: { label: string; probabilities: Record<string, number> }, r: number) => {
        expect(p.label).toBe(own[r].label);
        expect(p.probabilities.yes).toBeCloseTo(own[r].probabilities.yes, 6);
      });
    });
    const requests = (after?.requests ?? 0) - (before.requests ?? 0);
    const calls = (after?.calls ?? 0) - (before.calls ?? 0);
    expect(requests).toBe(40);
    expect(calls).toBeLessThanOrEqual(requests);
    // requests that reach the model in the same turn of the event loop are scored in one session.run, each answered with its rows
    const model = champion as NonNullable<typeof champion>;
    const runsBefore = model.runs.calls;
    const together = await Promise.all(rows.map((row) => model.score(objectRows([row]))));
    expect(model.runs.calls - runsBefore).toBe(1);
    together.forEach((own, i) => expect(own).toEqual([expect.objectContaining({ label: alone.body.predictions[i].label })]));
    // every row of every request in the log exactly once, with its own digest
    const events = await loggedEvents(
      answers.map((a) => a.body.requestId),
      41,
    );
    expect(events[0]?.n).toBe(41);
    const want = answers.flatMap((a, i) =>
      (i === 7 ? [rows[7], rows[8]] : [rows[i]]).map((row, r) => ({
        request_id: a.body.requestId,
        row: r,
        digest: sha256Hex(canonicalJson(row)),
      })),
    );
    const key = (e: { request_id: string; row: number }) => `${e.request_id}:${e.row}`;
    expect(
      events.map((e) => ({ request_id: e.request_id, row: e.row, digest: e.digest })).sort((x, y) => key(x).localeCompare(key(y))),
    ).toEqual(want.sort((x, y) => key(x).localeCompare(key(y))));
  });

  it('reads an Arrow body column by column (text columns too): the answers and digests of the same rows as JSON', async () => {
    // 100 rows: more than a micro-batch takes, and digested on the digest worker
    const rows = Array.from({ length: 100 }, (_, i) => rowOf(200 + i));
    const column = (f: (typeof features)[number]) => rows.map((r) => r[f]);
    const body = tableToIPC(
      new Table({
        age: vectorFromArray(column('age') as number[], new Float64()),
        color: vectorFromArray(column('color') as (string | null)[], new Utf8()),
        income: vectorFromArray(column('income') as number[], new Float64()),
        size: vectorFromArray(column('size') as (string | null)[], new Utf8()),
        score: vectorFromArray(column('score') as number[], new Float32()),
      }),
      'stream',
    );
    expect(rows.some((r) => r.color === null)).toBe(true);
    const json = await predictRows('churn', rows);
    const arrow = await call('/v1/endpoints/churn/predict', {
      headers: { ...auth, 'content-type': 'application/vnd.apache.arrow.stream' },
      body,
    });
    expect([json.status, arrow.status]).toEqual([200, 200]);
    expect(arrow.body.model).toEqual(json.body.model);
    expect(arrow.body.predictions).toEqual(json.body.predictions);
    const events = await loggedEvents([arrow.body.requestId, json.body.requestId], 200);
    expect(events[0]?.n).toBe(200);
    const digests = rows.map((r) => sha256Hex(canonicalJson(r)));
    for (const id of [arrow.body.requestId, json.body.requestId])
      expect(events.filter((e) => e.request_id === id).map((e) => e.digest)).toEqual(digests);
    // a null in a numeric column, a missing column
    const bad = async (t: Table) =>
      call('/v1/endpoints/churn/predict', {
        headers: { ...auth, 'content-type': 'application/vnd.apache.arrow.stream' },
        body: tableToIPC(t, 'stream'),
      });
    const nulls = await bad(
      new Table({
        age: vectorFromArray([30, null], new Float64()),
        color: vectorFromArray(['red', 'red'], new Utf8()),
        income: vectorFromArray([1, 2], new Float64()),
        size: vectorFromArray(['S', 'S'], new Utf8()),
        score: vectorFromArray([1, 2], new Float64()),
      }),
    );
    expect([nulls.status, nulls.body.error.issues[0]]).toEqual([400, { row: 1, field: 'age', message: 'must be number' }]);
    const missing = await bad(new Table({ age: vectorFromArray([30], new Float64()) }));
    expect([missing.status, missing.body.error.message]).toEqual([
      400,
      expect.stringMatching(/^row 0, field "income": the feature is missing \(and 3 more issues\)/),
    ]);
  });

  it('follows alias moves under load without a failed request: NOTIFY, then polling alone; the old version stops answering', async () => {
    let stop = false;
    const seen: number[][] = [];
    const failures: string[] = [];
    const loop = async (k: number): Promise<void> => {
      const mine: number[] = [];
      seen.push(mine);
      for (let i = 0; !stop; i++) {
        try {
          const a = await predictRows('churn', [rowOf((k * 37 + i) % 900)]);
          if (a.status !== 200) failures.push(`${a.status} ${JSON.stringify(a.body)}`);
          else if (mine[mine.length - 1] !== a.body.model.version) mine.push(a.body.model.version);
        } catch (err) {
          failures.push(String(err));
        }
      }
    };
    const loops = Array.from({ length: 6 }, (_, k) => loop(k));
    await new Promise((r) => setTimeout(r, 300));
    await promote(db.pool, 'churn', 2, 'churn'); // with NOTIFY
    await waitFor('version 2 answering', async () => (seen.every((s) => s[s.length - 1] === 2) ? true : undefined));
    await promote(db.pool, 'churn', 3, 'churn', false); // no NOTIFY: the poll (300 ms here) finds it
    await waitFor('version 3 answering', async () => (seen.every((s) => s[s.length - 1] === 3) ? true : undefined));
    await new Promise((r) => setTimeout(r, 200));
    stop = true;
    await Promise.all(loops);
    expect(failures).toEqual([]);
    // every loop saw 1, then 2, then 3: never back to an older version
    for (const s of seen) expect(s).toEqual([1, 2, 3]);
  });

  it('keeps serving the old model when the new champion file fails its sha256 check', async () => {
    const tampered = await registerTestModel(db.pool, store, 'churn', models[1] as TrainedModel, 'run-tampered');
    // same bytes as version 1 under a new version... then damaged on disk
    const damaged = Buffer.from(tampered.bytes);
    damaged.writeUInt8(damaged.readUInt8(damaged.length - 1) ^ 0xff, damaged.length - 1);
    fs.writeFileSync(new URL(tampered.onnx.uri), damaged);
    await promote(db.pool, 'churn', tampered.version, 'churn');
    await waitFor('the refusal', async () =>
      logs.some((l) => l.includes(`churn@${tampered.version} cannot be served`)) ? true : undefined,
    );
    const a = await predictRows('churn', [rowOf(0)]);
    expect([a.status, a.body.model.version]).toEqual([200, 3]);
    const metrics = await call('/metrics', { method: 'GET', headers: auth });
    expect(metrics.body).toMatch(/sluice_serve_model_load_failures_total\{endpoint="churn"\} [1-9]/);
    // repaired: the next poll loads it
    fs.writeFileSync(new URL(tampered.onnx.uri), tampered.bytes);
    await waitFor('the repaired version', async () => {
      const b = await predictRows('churn', [rowOf(0)]);
      return b.body.model?.version === tampered.version ? true : undefined;
    });
    await promote(db.pool, 'churn', 3, 'churn');
    await waitFor('version 3 back', async () => ((await predictRows('churn', [rowOf(0)])).body.model?.version === 3 ? true : undefined));
  });

  it('shadow: the candidate scores the same rows for max_requests requests, only the champion answers, both are logged; the budget survives a restart', async () => {
    const sessionId = await openShadowSession(db.pool, {
      endpoint: 'churn',
      candidateVersion: 2,
      championVersion: 3,
      maxRequests: 4,
      seconds: 3600,
      runId: 'shadow-1',
    });
    await waitFor('the shadow session', async () => (service.endpoints.get('churn')?.shadow?.sessionId === sessionId ? true : undefined));
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const a = await predictRows('churn', [rowOf(100 + i), rowOf(200 + i)]);
      expect([a.status, a.body.model.version]).toEqual([200, 3]);
      expect(Object.keys(a.body)).not.toContain('shadow');
      ids.push(a.body.requestId);
    }
    const events = await waitFor('six requests logged', async () => {
      const all = await Promise.all(ids.map(logged));
      return all.every((e) => e.length === 2) ? all : undefined;
    });
    const shadowed = events.map((e) => e.every((x) => x.payload.shadow !== undefined));
    expect(shadowed).toEqual([true, true, true, true, false, false]);
    const first = events[0]?.[1]?.payload;
    expect(first.shadow).toEqual({
      session_id: sessionId,
      version: 2,
      sha256: versions[2]?.sha256,
      outputs: expect.objectContaining({ label: expect.any(String) }),
      latency_ms: expect.any(Number),
    });
    // the candidate's own answer: what version 2 computes for that row
    const p2 = predict(models[2] as TrainedModel, {
      rowCount: 1,
      columns: Object.fromEntries(features.map((f) => [f, [rowOf(200)[f] as number | string | null]])),
    });
    expect(first.shadow.outputs.probabilities.yes).toBeCloseTo(p2.task === 'regression' ? 0 : (p2.probabilities[1] as number), 5);
    expect(first.model.version).toBe(3);

    // a restarted service counts the session's requests from the log: the budget stays spent
    await service.close();
    service = await start();
    base = `http://127.0.0.1:${service.port}`;
    expect(service.endpoints.get('churn')?.shadow?.sessionId).toBe(sessionId);
    const after = await predictRows('churn', [rowOf(5)]);
    const [event] = await waitFor('the request after the restart', async () => {
      const e = await logged(after.body.requestId);
      return e.length === 1 ? e : undefined;
    });
    expect(event?.payload.shadow).toBeUndefined();
  });

  it('/healthz answers without a token; /metrics counts requests, latency, errors, the model version and the log buffer', async () => {
    const h = await call('/healthz', { method: 'GET' });
    expect([h.status, h.body]).toEqual([200, { status: 'ok' }]);
    await predictRows('churn', [rowOf(0)]);
    await predictRows('churn', []);
    const m = await call('/metrics', { method: 'GET', headers: auth });
    expect(m.status).toBe(200);
    expect(m.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = m.body as string;
    expect(text).toMatch(/^sluice_serve_requests_total\{endpoint="churn",status="200"\} [1-9]/m);
    expect(text).toMatch(/^sluice_serve_requests_total\{endpoint="churn",status="400"\} [1-9]/m);
    expect(text).toMatch(/^sluice_serve_errors_total\{endpoint="churn",code="SLUICE_INVALID_ROWS"\} [1-9]/m);
    expect(text).toMatch(/^sluice_serve_request_duration_seconds_bucket\{endpoint="churn",le="\+Inf"\} [1-9]/m);
    expect(text).toMatch(
      new RegExp(`^sluice_serve_model_version\\{endpoint="churn",model="churn",role="champion",sha256="${versions[3]?.sha256}"\\} 3$`, 'm'),
    );
    expect(text).toMatch(/^sluice_serve_model_version\{endpoint="price-eu",model="price",role="champion",sha256="[0-9a-f]{64}"\} 1$/m);
    expect(text).toMatch(/^sluice_serve_endpoint_available\{endpoint="fraud"\} 0$/m);
    expect(text).toMatch(/^sluice_serve_prediction_log_buffered_events \d+$/m);
    expect(text).toMatch(/^# TYPE sluice_serve_prediction_log_lag_seconds histogram$/m);
  });

  it('flushes the prediction buffer on shutdown', async () => {
    await service.close();
    service = await start({ logFlushMs: 60_000, logFlushEvents: 1_000_000, logMaxBufferedEvents: 3 });
    base = `http://127.0.0.1:${service.port}`;
    const a = await predictRows('churn', [rowOf(1), rowOf(2), rowOf(3)]);
    expect(a.status).toBe(200);
    await new Promise((r) => setTimeout(r, 100));
    expect(await logged(a.body.requestId)).toHaveLength(0); // still buffered: the timer is a minute
    // the log is as far behind as it may be: no answer it could not record
    const busy = await predictRows('churn', [rowOf(4)]);
    expect([busy.status, busy.body.error.code, busy.headers.get('retry-after')]).toEqual([503, 'SLUICE_BUSY', '1']);
    expect((await call('/healthz', { method: 'GET' })).status).toBe(503);
    await service.close();
    expect(await logged(a.body.requestId)).toHaveLength(3);
    service = await start();
    base = `http://127.0.0.1:${service.port}`;
  });
});
