// The HTTP ingest edge's pure parts: the byte-order mark, the media types, and its settings.
import { Readable } from 'node:stream';
import { parseConfig } from '../../config';
import { HTTP_INGEST_MEDIA_TYPES, ingestFormatOf, utf8BomStripper } from '../../workers/httpIngest';

async function strip(chunks: number[][]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of Readable.from(chunks.map((c) => Buffer.from(c))).pipe(utf8BomStripper())) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe('utf8BomStripper', () => {
  it('drops a leading BOM even when it arrives one byte at a time', async () => {
    expect(await strip([[0xef], [0xbb], [0xbf, 0x7b], [0x7d]])).toEqual(Buffer.from('{}'));
    expect(await strip([[0xef, 0xbb, 0xbf]])).toEqual(Buffer.alloc(0));
  });

  it('changes no other byte: short bodies, a partial mark, a mark later in the body', async () => {
    expect(await strip([[0x61]])).toEqual(Buffer.from('a'));
    expect(await strip([[0xef, 0xbb]])).toEqual(Buffer.from([0xef, 0xbb]));
    expect(await strip([[0xef, 0xbb, 0x41, 0x42]])).toEqual(Buffer.from([0xef, 0xbb, 0x41, 0x42]));
    expect(
      await strip([
        [0x61, 0xef, 0xbb, 0xbf],
        [0xef, 0xbb, 0xbf],
      ]),
    ).toEqual(Buffer.from([0x61, 0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf]));
    expect(await strip([])).toEqual(Buffer.alloc(0));
  });
});

describe('ingestFormatOf (Content-Type)', () => {
  it('maps each accepted media type to its ingest format, ignoring case and parameters', () => {
    expect(HTTP_INGEST_MEDIA_TYPES).toEqual({
      'application/x-ndjson': 'ndjson',
      'application/ndjson': 'ndjson',
      'application/jsonl': 'ndjson',
      'application/x-jsonlines': 'ndjson',
      'text/csv': 'csv',
      'application/vnd.apache.arrow.stream': 'arrow',
      'application/vnd.apache.arrow.file': 'arrow',
    });
    expect(ingestFormatOf('Application/X-NDJSON; charset=UTF-8')).toBe('ndjson');
    expect(ingestFormatOf('text/csv; header=present; charset="utf8"')).toBe('csv');
    expect(ingestFormatOf('application/vnd.apache.arrow.file')).toBe('arrow');
  });

  it('refuses what it cannot read as declared, naming the accepted types', () => {
    expect(() => ingestFormatOf(undefined)).toThrow(/no Content-Type; send one of: application\/x-ndjson/);
    expect(() => ingestFormatOf('application/json')).toThrow(/"application\/json" is not accepted/);
    expect(() => ingestFormatOf('application/json-seq')).toThrow(/not accepted/);
    expect(() => ingestFormatOf('text/csv; charset=utf-16')).toThrow(/utf-16.*CSV bodies are read as UTF-8/);
  });
});

describe('HTTP ingest settings', () => {
  it('defaults: loopback, 1 GiB bodies, 2 GiB spooled at once, 16 KiB headers, 4 KiB URLs', () => {
    const r = parseConfig({});
    expect(r.ok && r.value.httpIngest).toEqual({
      port: 8080,
      host: '127.0.0.1',
      token: undefined,
      maxBodyBytes: 1024 ** 3,
      maxSpoolBytes: 2 * 1024 ** 3,
      maxHeaderBytes: 16 * 1024,
      maxUrlBytes: 4 * 1024,
      idempotencyKeyDays: 30,
    });
  });

  it('reads SLUICE_HTTP_HOST and the limits, and refuses values that cannot work, naming the variable', () => {
    const r = parseConfig({
      SLUICE_HTTP_HOST: '0.0.0.0',
      SLUICE_HTTP_MAX_BODY_BYTES: '1000',
      SLUICE_HTTP_MAX_SPOOL_BYTES: '5000',
      SLUICE_HTTP_MAX_HEADER_BYTES: '8192',
      SLUICE_HTTP_MAX_URL_BYTES: '2048',
      SLUICE_HTTP_IDEMPOTENCY_KEY_DAYS: '0',
    });
    expect(r.ok && r.value.httpIngest).toMatchObject({
      idempotencyKeyDays: 0,
      host: '0.0.0.0',
      maxBodyBytes: 1000,
      maxSpoolBytes: 5000,
      maxHeaderBytes: 8192,
      maxUrlBytes: 2048,
    });
    expect(parseConfig({ SLUICE_HTTP_HOST: '::' }).ok).toBe(true);
    expect(parseConfig({ SLUICE_HTTP_HOST: 'ingest.internal' }).ok).toBe(true);
    const variables = (env: Record<string, string>) => {
      const p = parseConfig(env);
      return p.ok ? [] : p.issues.map((i) => i.variable);
    };
    expect(variables({ SLUICE_HTTP_HOST: 'http://0.0.0.0' })).toEqual(['SLUICE_HTTP_HOST']);
    expect(variables({ SLUICE_HTTP_IDEMPOTENCY_KEY_DAYS: '-1' })).toEqual(['SLUICE_HTTP_IDEMPOTENCY_KEY_DAYS']);
    // A body the spool can never hold would be answered "retry later" for ever.
    expect(variables({ SLUICE_HTTP_MAX_BODY_BYTES: '3000', SLUICE_HTTP_MAX_SPOOL_BYTES: '2000' })).toEqual(['SLUICE_HTTP_MAX_BODY_BYTES']);
    // A URL longer than the headers never reaches the handler.
    expect(variables({ SLUICE_HTTP_MAX_HEADER_BYTES: '4096', SLUICE_HTTP_MAX_URL_BYTES: '8192' })).toEqual(['SLUICE_HTTP_MAX_URL_BYTES']);
    expect(parseConfig({ SLUICE_HTTP_MAX_HEADER_BYTES: '2048' }).ok && parseConfig({ SLUICE_HTTP_MAX_HEADER_BYTES: '2048' })).toMatchObject(
      { value: { httpIngest: { maxUrlBytes: 2048 } } },
    );
  });
});
