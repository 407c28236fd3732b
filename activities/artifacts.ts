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

/** Bytes written piece by piece (larger than memory should hold), stored under their sha256 on `finish`. */
export interface ArtifactWriter {
  write(bytes: Uint8Array): Promise<void>;
  /** Stores what was written (a no-op when the same bytes are stored already). */
  finish(): Promise<ArtifactRef>;
  /** Drops what was written. */
  abort(): Promise<void>;
}

export interface ArtifactStore {
  /** Stores bytes under their sha256; storing the same bytes twice is a no-op. */
  put(data: Uint8Array | string, options: { mediaType: string; extension?: string }): Promise<ArtifactRef>;
  /** Like {@link put}, for bytes that come in pieces. */
  openWriter(options: { mediaType: string; extension?: string }): Promise<ArtifactWriter>;
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
    const writer = await this.openWriter(options);
    try {
      await writer.write(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    } catch (err) {
      await writer.abort();
      throw err;
    }
    return writer.finish();
  }

  async openWriter(options: { mediaType: string; extension?: string }): Promise<ArtifactWriter> {
    const ext = options.extension ?? '';
    if (ext && !/^\.[a-z0-9]{1,10}$/.test(ext)) throw new Error(`Bad artifact extension ${JSON.stringify(ext)}`);
    // The temporary file sits in the store (same file system), so that finishing is a rename.
    const tmpDir = path.join(this.root, 'sha256');
    await fs.mkdir(tmpDir, { recursive: true });
    const tmp = path.join(tmpDir, `.tmp-${randomBytes(6).toString('hex')}`);
    const handle = await fs.open(tmp, 'wx', 0o644);
    const hash = createHash('sha256');
    let size = 0;
    let closed = false;
    const close = async (): Promise<void> => {
      if (closed) return;
      closed = true;
      await handle.close();
    };
    return {
      write: async (bytes) => {
        hash.update(bytes);
        size += bytes.length;
        await handle.write(bytes);
      },
      finish: async () => {
        await handle.sync();
        await close();
        const sha256 = hash.digest('hex');
        const existing = await this.find(sha256);
        const file = existing ?? path.join(this.dirOf(sha256), `${sha256}${ext}`);
        if (existing) {
          await fs.rm(tmp, { force: true });
        } else {
          await fs.mkdir(path.dirname(file), { recursive: true });
          await fs.rename(tmp, file);
        }
        return { sha256, size, uri: `file://${file}`, mediaType: options.mediaType };
      },
      abort: async () => {
        await close();
        await fs.rm(tmp, { force: true });
      },
    };
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
