/**
 * The artifact store: content-addressed files (reports, Arrow IPC datasets, ONNX models) behind one
 * small interface, put/get/stat by sha256. {@link LocalArtifactStore} keeps them under
 * config.artifactsDir; an S3-compatible backend can implement the same interface later.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

export interface ArtifactRef {
  sha256: string;
  size: number;
  /** Where the bytes live (file:// for the local store); workflows carry this, never the bytes. */
  uri: string;
  mediaType: string;
}

export interface ArtifactStore {
  /** Stores bytes under their sha256; storing the same bytes twice is a no-op. */
  put(data: Uint8Array | string, options: { mediaType: string; extension?: string }): Promise<ArtifactRef>;
  /** The bytes of an artifact; throws {@link ArtifactNotFoundError} when absent. */
  get(sha256: string): Promise<Buffer>;
  /** Size and location, or undefined when absent. */
  stat(sha256: string): Promise<{ size: number; uri: string } | undefined>;
}

export class ArtifactNotFoundError extends Error {
  constructor(readonly sha256: string) {
    super(`No artifact with sha256 ${sha256}`);
    this.name = 'ArtifactNotFoundError';
  }
}

const SHA256 = /^[0-9a-f]{64}$/;

/** Files at <root>/sha256/<first two hex>/<sha256><extension>, written atomically (temp file + rename). */
export class LocalArtifactStore implements ArtifactStore {
  constructor(readonly root: string) {}

  private dirOf(sha256: string): string {
    if (!SHA256.test(sha256)) throw new Error(`Not a sha256 digest: ${JSON.stringify(sha256)}`);
    return path.join(this.root, 'sha256', sha256.slice(0, 2));
  }

  private async find(sha256: string): Promise<string | undefined> {
    const dir = this.dirOf(sha256);
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const name = names.find((n) => n === sha256 || n.startsWith(`${sha256}.`));
    return name ? path.join(dir, name) : undefined;
  }

  async put(data: Uint8Array | string, options: { mediaType: string; extension?: string }): Promise<ArtifactRef> {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const ext = options.extension ?? '';
    if (ext && !/^\.[a-z0-9]{1,10}$/.test(ext)) throw new Error(`Bad artifact extension ${JSON.stringify(ext)}`);
    const dir = this.dirOf(sha256);
    const file = path.join(dir, `${sha256}${ext}`);
    const existing = await this.find(sha256);
    if (!existing) {
      await fs.mkdir(dir, { recursive: true });
      const tmp = path.join(dir, `.tmp-${randomBytes(6).toString('hex')}`);
      await fs.writeFile(tmp, bytes);
      await fs.rename(tmp, file);
    }
    const at = existing ?? file;
    return { sha256, size: bytes.length, uri: `file://${at}`, mediaType: options.mediaType };
  }

  async get(sha256: string): Promise<Buffer> {
    const file = await this.find(sha256);
    if (!file) throw new ArtifactNotFoundError(sha256);
    return fs.readFile(file);
  }

  async stat(sha256: string): Promise<{ size: number; uri: string } | undefined> {
    const file = await this.find(sha256);
    if (!file) return undefined;
    const s = await fs.stat(file);
    return { size: s.size, uri: `file://${file}` };
  }
}
