/**
 * A headless Chromium driven over its own DevTools protocol through a pipe
 * (`--remote-debugging-pipe`: JSON messages ended by NUL on fds 3 and 4), so that a test can look
 * at a web page as a person would without a browser-automation dependency.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';

/** Where Debian's `chromium` package puts the browser (`.ci/run` installs it). */
export const CHROMIUM_PATH = process.env.SLUICE_TEST_CHROMIUM ?? '/usr/bin/chromium';

interface CdpMessage {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
  sessionId?: string;
}

export class HeadlessChromium {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void; method: string }
  >();
  private readonly exited: Promise<void>;
  private stderr = '';
  /** Where `waitFor` saves what the page showed when it gave up. */
  private timeoutScreenshot: string | undefined;

  private constructor(
    private readonly child: ChildProcess,
    private readonly userDataDir: string,
    private sessionId = '',
  ) {
    const input = child.stdio[4] as Readable;
    let buffered = '';
    input.setEncoding('utf8');
    input.on('data', (chunk: string) => {
      buffered += chunk;
      let end: number;
      while ((end = buffered.indexOf('\0')) >= 0) {
        this.dispatch(JSON.parse(buffered.slice(0, end)) as CdpMessage);
        buffered = buffered.slice(end + 1);
      }
    });
    (child.stderr as Readable).on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    void this.exited.then(() => {
      for (const p of this.pending.values()) p.reject(new Error(`chromium exited during ${p.method}: ${this.stderr}`));
      this.pending.clear();
    });
  }

  /** Starts the browser and attaches to its one tab; `close()` ends it and its children. */
  static async launch(options: { width?: number; height?: number; timeoutScreenshot?: string } = {}): Promise<HeadlessChromium> {
    const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-chromium-'));
    const child = spawn(
      CHROMIUM_PATH,
      [
        '--headless=new',
        '--remote-debugging-pipe',
        `--user-data-dir=${userDataDir}`,
        '--no-sandbox', // tests run as root in containers
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--no-first-run',
        '--no-default-browser-check',
        '--disable-extensions',
        '--disable-background-networking',
        `--window-size=${options.width ?? 1440},${options.height ?? 1000}`,
        'about:blank',
      ],
      // its own process group, so that close() can end the renderer and GPU processes too
      { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], detached: true },
    );
    const browser = new HeadlessChromium(child, userDataDir);
    browser.timeoutScreenshot = options.timeoutScreenshot;
    const spawned = new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    await spawned;
    const { targetInfos } = (await browser.send('Target.getTargets')) as { targetInfos: { targetId: string; type: string }[] };
    const page = targetInfos.find((t) => t.type === 'page');
    if (!page) throw new Error(`chromium opened no page: ${JSON.stringify(targetInfos)}`);
    const { sessionId } = (await browser.send('Target.attachToTarget', { targetId: page.targetId, flatten: true })) as {
      sessionId: string;
    };
    browser.sessionId = sessionId;
    await browser.send('Page.enable');
    await browser.send('Runtime.enable');
    return browser;
  }

  private dispatch(msg: CdpMessage): void {
    if (msg.id === undefined) return; // events: this driver polls instead
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
    else p.resolve(msg.result ?? {});
  }

  /** One DevTools protocol command, to the page's session once attached. */
  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    const message: CdpMessage = { id, method, params, ...(this.sessionId ? { sessionId: this.sessionId } : {}) };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      (this.child.stdio[3] as Writable).write(`${JSON.stringify(message)}\0`);
    });
  }

  async navigate(url: string): Promise<void> {
    const r = (await this.send('Page.navigate', { url })) as { errorText?: string };
    if (r.errorText) throw new Error(`chromium could not open ${url}: ${r.errorText}`);
  }

  /** Evaluates `expression` in the page and returns its (JSON-serialisable) value. */
  async evaluate<T>(expression: string): Promise<T> {
    const r = (await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true })) as {
      result: { value?: T };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    };
    if (r.exceptionDetails) throw new Error(`in the page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value as T;
  }

  /** The page's visible text. */
  text(): Promise<string> {
    return this.evaluate<string>('document.body ? document.body.innerText : ""');
  }

  /** Polls `expression` until it is truthy; the error says what was awaited and shows the page's text. */
  async waitFor(what: string, expression: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await this.evaluate<boolean>(`Boolean(${expression})`).catch(() => false)) return;
      if (Date.now() > deadline) {
        const text = await this.text().catch((e: Error) => `(no text: ${e.message})`);
        const shot = this.timeoutScreenshot
          ? await this.screenshot(this.timeoutScreenshot).then(
              () => ` (screenshot: ${this.timeoutScreenshot})`,
              (e: Error) => ` (no screenshot: ${e.message})`,
            )
          : '';
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${shot}; the page says:\n${text.slice(0, 3000)}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Waits until the page's visible text contains every one of `texts`. */
  waitForText(texts: string[], timeoutMs?: number): Promise<void> {
    const json = JSON.stringify(texts);
    return this.waitFor(`the text ${json}`, `${json}.every((t) => document.body && document.body.innerText.includes(t))`, timeoutMs);
  }

  /** Writes a PNG of the whole page to `file` (its directory is created). */
  async screenshot(file: string): Promise<void> {
    const { data } = (await this.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true })) as { data: string };
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, Buffer.from(data, 'base64'));
  }

  /** Closes the browser (all its processes) and removes its profile. */
  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.sessionId = '';
      const timer = setTimeout(() => this.killGroup('SIGKILL'), 5_000);
      await Promise.race([this.send('Browser.close').catch(() => undefined), this.exited]);
      await this.exited;
      clearTimeout(timer);
    }
    this.killGroup('SIGKILL'); // leftovers of the group (a crashed renderer), if any
    fs.rmSync(this.userDataDir, { recursive: true, force: true });
  }

  private killGroup(signal: NodeJS.Signals): void {
    if (!this.child.pid) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err; // ESRCH: the group is gone already
    }
  }
}
