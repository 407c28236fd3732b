import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArtifactNotFoundError, LocalArtifactStore } from '../../activities/artifacts';

describe('local artifact store (put/get/stat by sha256)', () => {
  let root: string;
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-store-'));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('stores bytes under their sha256, idempotently, and reads them back', async () => {
    const store = new LocalArtifactStore(root);
    const text = '<!DOCTYPE html><p>report</p>';
    const sha = createHash('sha256').update(text).digest('hex');
    const a = await store.put(text, { mediaType: 'text/html', extension: '.html' });
    expect(a).toEqual({
      sha256: sha,
      size: Buffer.byteLength(text),
      uri: `file://${path.join(root, 'sha256', sha.slice(0, 2), `${sha}.html`)}`,
      mediaType: 'text/html',
    });
    const b = await store.put(Buffer.from(text), { mediaType: 'text/html', extension: '.html' });
    expect(b.uri).toBe(a.uri);
    expect(fs.readdirSync(path.dirname(fileURLToPath(a.uri)))).toEqual([`${sha}.html`]); // no temp files left
    expect((await store.get(sha)).toString()).toBe(text);
    expect(await store.stat(sha)).toEqual({ size: a.size, uri: a.uri });
  });

  it('a writer stores bytes that come in pieces under their sha256; an aborted one leaves nothing', async () => {
    const store = new LocalArtifactStore(root);
    const pieces = ['first piece, ', 'second piece, ', 'last'];
    const whole = pieces.join('');
    const sha = createHash('sha256').update(whole).digest('hex');
    const w = await store.openWriter({ mediaType: 'application/octet-stream', extension: '.bin' });
    for (const p of pieces) await w.write(Buffer.from(p));
    expect(await w.finish()).toEqual({
      sha256: sha,
      size: whole.length,
      uri: `file://${path.join(root, 'sha256', sha.slice(0, 2), `${sha}.bin`)}`,
      mediaType: 'application/octet-stream',
    });
    expect((await store.get(sha)).toString()).toBe(whole);
    // The same bytes again: the stored file is reused.
    const again = await store.openWriter({ mediaType: 'application/octet-stream', extension: '.bin' });
    await again.write(Buffer.from(whole));
    expect((await again.finish()).uri).toBe(`file://${path.join(root, 'sha256', sha.slice(0, 2), `${sha}.bin`)}`);
    const dropped = await store.openWriter({ mediaType: 'application/octet-stream' });
    await dropped.write(Buffer.from('never stored'));
    await dropped.abort();
    expect(await store.stat(createHash('sha256').update('never stored').digest('hex'))).toBeUndefined();
    expect(fs.readdirSync(path.join(root, 'sha256')).filter((n) => n.startsWith('.tmp-'))).toEqual([]); // no temp files left
  });

  it('absent artifacts: stat is undefined, get throws; a malformed digest is refused before touching the disk', async () => {
    const store = new LocalArtifactStore(root);
    const missing = 'f'.repeat(64);
    expect(await store.stat(missing)).toBeUndefined();
    await expect(store.get(missing)).rejects.toBeInstanceOf(ArtifactNotFoundError);
    await expect(store.get('../../etc/passwd')).rejects.toThrow(/Not a sha256 digest/);
    await expect(store.put('x', { mediaType: 'text/plain', extension: '/../x' })).rejects.toThrow(/Bad artifact extension/);
  });
});
