/**
 * Records over the size limit (a small limit here; ingestFiles.test.ts has a real 64 MiB one):
 * quarantined by their first bytes, known by the digest of all of them, kept whole by the spill.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalArtifactStore } from '../../activities/artifacts';
import { ndjsonRecords, type SourceRecord } from '../../activities/ingest/readers';

describe('oversized records in NDJSON', () => {
  let dir: string;
  let store: LocalArtifactStore;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-oversize-'));
    store = new LocalArtifactStore(path.join(dir, 'artifacts'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const read = async (content: string, spill = true): Promise<SourceRecord[]> => {
    const file = path.join(dir, `f-${Math.random().toString(36).slice(2)}.ndjson`);
    fs.writeFileSync(file, content);
    const out: SourceRecord[] = [];
    const options = { maxRecordBytes: 16, ...(spill ? { spill: () => store.openWriter({ mediaType: 'application/octet-stream' }) } : {}) };
    for await (const r of ndjsonRecords(file, options)) out.push(r);
    return out;
  };
  const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

  it('a record over the limit comes out unreadable with all of its bytes in the store; the records around it are intact', async () => {
    const long = `{"n":"${'x'.repeat(40)}"}`;
    const records = await read(`{"a":1}\n${long}\n{"b":2}\n${long}`);
    expect(records.map((r) => r.kind)).toEqual(['line', 'unreadable', 'line', 'unreadable']);
    for (const r of [records[1], records[3]]) {
      if (r?.kind !== 'unreadable') throw new Error('expected unreadable');
      expect(r.keyword).toBe('maxRecordBytes');
      expect(r.raw.toString()).toBe(long); // the first MiB: all of it, here
      expect(r.whole).toMatchObject({ sha256: sha(long), size: long.length, artifact: { sha256: sha(long), size: long.length } });
      expect((await store.get(sha(long))).toString()).toBe(long);
      expect(r.message).toMatch(/over the 16-byte limit/);
    }
  });

  it('without a spill the digest of all the bytes still identifies the record', async () => {
    const [r] = await read(`{"n":"${'z'.repeat(30)}"}`, false);
    if (r?.kind !== 'unreadable') throw new Error('expected unreadable');
    expect(r.whole).toEqual({ sha256: sha(`{"n":"${'z'.repeat(30)}"}`), size: 38 });
    expect(r.message).toMatch(/sha256 of all bytes/);
  });

  it('a record of exactly the limit is a record', async () => {
    const exact = `{"n":"${'q'.repeat(8)}"}`; // 16 bytes
    expect(exact.length).toBe(16);
    expect((await read(`${exact}\n`)).map((r) => r.kind)).toEqual(['line']);
  });
});
