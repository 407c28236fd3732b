import { RecordClassifier } from '../../activities/ingest/classify';
import type { SourceRecord } from '../../activities/ingest/readers';
import { PREDICTIONS_CONTRACT, type PredictionEvent } from '../../activities/serve';
import { eventRecords } from '../../activities/serve/predictionLog';
import { ContractRegistry } from '../../contracts/registry';

const contracts = ContractRegistry.fromDirectory();
const contract = contracts.get(PREDICTIONS_CONTRACT);
const classifier = new RecordClassifier(contract, contracts.validator(PREDICTIONS_CONTRACT, contract.version));

const event = (over: Partial<PredictionEvent> = {}): PredictionEvent => ({
  event_id: 'r1:0',
  request_id: 'r1',
  endpoint: 'churn',
  row: 0,
  answered_at: '2026-12-01T10:00:00.000Z',
  model: { name: 'churn', version: 1, sha256: 'a'.repeat(64) },
  inputs_digest: 'b'.repeat(64),
  outputs: { label: 'yes', probabilities: { no: 0.25, yes: 0.75 } },
  latency_ms: 0.5,
  ...over,
});

async function records(events: PredictionEvent[]): Promise<SourceRecord[]> {
  const out: SourceRecord[] = [];
  for await (const r of eventRecords(events)) out.push(r);
  return out;
}

describe('prediction events on their way to the log', () => {
  it('go with their JSON text when every number is finite, and are judged by the contract all the same', async () => {
    const [ok, badDigest] = await records([event(), event({ event_id: 'r1:1', row: 1, inputs_digest: 'not a digest' })]);
    expect(ok).toEqual({ kind: 'value', value: event(), text: JSON.stringify(event()) });
    const staged = classifier.classify(ok as SourceRecord, 0);
    expect([staged.valid, staged.eventId, staged.payload]).toEqual([true, 'r1:0', JSON.stringify(event())]);
    // the contract check still runs: a malformed event is quarantined, not lost
    const refused = classifier.classify(badDigest as SourceRecord, 1);
    expect(refused.valid).toBe(false);
    expect(refused.reason?.issues[0]?.pointer).toBe('/inputs_digest');
  });

  it('are walked for what jsonb cannot store when a number is not finite or the text holds an escape', async () => {
    const [nan] = await records([event({ outputs: { value: Number.NaN } })]);
    expect(nan).toEqual({ kind: 'value', value: expect.anything() }); // no text: the writer walks it
    const quarantined = classifier.classify(nan as SourceRecord, 0);
    expect([quarantined.valid, quarantined.reason?.issues[0]?.keyword]).toEqual([false, 'storable']);
    const [nul] = await records([event({ outputs: { label: 'a\u0000b', probabilities: { 'a\u0000b': 1 } } })]);
    expect((nul as { text?: string }).text).toContain('\\u0000');
    const refused = classifier.classify(nul as SourceRecord, 0);
    expect([refused.valid, refused.reason?.issues[0]?.keyword]).toEqual([false, 'storable']);
  });
});
