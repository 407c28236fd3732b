/**
 * The log writer's chunk builder (activities/ingest/logWriter.ts): a repeated event id with the same
 * payload text is dropped where it is read; one with other text is kept for PostgreSQL to judge
 * (a duplicate once jsonb has normalised it, or a conflicting duplicate), never silently dropped.
 */
import { RecordClassifier } from '../../activities/ingest/classify';
import { ChunkBuilder } from '../../activities/ingest/logWriter';
import { ContractRegistry } from '../../contracts/registry';

const ORDERS = 'ingest_test_orders';
const TS = '2026-04-01T00:00:00Z';

describe('ChunkBuilder: repeated event ids within a chunk', () => {
  const registry = ContractRegistry.fromDirectory();
  const contract = registry.get(ORDERS);
  const classifier = new RecordClassifier(contract, registry.validator(ORDERS, contract.version));
  const build = (lines: string[], first = 100): ChunkBuilder => {
    const chunk = new ChunkBuilder({ source: ORDERS, batchId: 'b', contract }, first);
    lines.forEach((text, i) => chunk.add(classifier.classify({ kind: 'line', text }, first + i)));
    return chunk;
  };

  it('writes an id once, drops the same text again, and keeps other text with its record number', () => {
    const chunk = build([
      `{"id":"a","ts":"${TS}","amount":1}`,
      `{"id":"b","ts":"${TS}","amount":2}`,
      `{"id":"a","ts":"${TS}","amount":1}`, // the same text: a duplicate
      `{"id":"a","ts":"${TS}","amount":9}`, // another payload
      `{"id": "a", "ts": "${TS}", "amount": 1}`, // the same payload, spaced otherwise: for PostgreSQL to judge
      `{"id":"a","ts":"${TS}","amount":"x"}`, // invalid: quarantine judges it
    ]);
    expect(chunk.records).toBe(6);
    expect(chunk.logRows).toBe(2);
    expect(chunk.logOrdinals).toEqual([100, 101]);
    expect(chunk.repeats.map(([ordinal, row]) => [ordinal, row.eventId, row.payload])).toEqual([
      [103, 'a', `{"id":"a","ts":"${TS}","amount":9}`],
      [104, 'a', `{"id": "a", "ts": "${TS}", "amount": 1}`],
    ]);
    expect(chunk.invalid.map((r) => r.reason?.record)).toEqual([105]);
    // The COPY text holds the two log rows only, each with its seq.
    const text = Buffer.concat(chunk.logCopyText(['7', '8'])).toString();
    expect(
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => l.trim().split('\t').slice(0, 3)),
    ).toEqual([
      ['7', ORDERS, 'a'],
      ['8', ORDERS, 'b'],
    ]);
  });

  it('compares with the first row of the id even when the buffer is reused by the next chunk', () => {
    const first = build([`{"id":"a","ts":"${TS}","amount":123456}`, `{"id":"b","ts":"${TS}","amount":2}`]);
    first.logCopyText(['1', '2']);
    const next = new ChunkBuilder({ source: ORDERS, batchId: 'b', contract }, 2, first.takeBody());
    next.add(classifier.classify({ kind: 'line', text: `{"id":"c","ts":"${TS}","amount":1}` }, 2));
    next.add(classifier.classify({ kind: 'line', text: `{"id":"c","ts":"${TS}","amount":1}` }, 3));
    next.add(classifier.classify({ kind: 'line', text: `{"id":"c","ts":"${TS}","amount":2}` }, 4));
    expect(next.logRows).toBe(1);
    expect(next.logOrdinals).toEqual([2]);
    expect(next.repeats.map(([ordinal]) => ordinal)).toEqual([4]);
  });
});
