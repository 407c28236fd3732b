/**
 * What every endpoint serves, kept current without a restart: the champion of the endpoint's model
 * (sluice.model_aliases) and, while a shadow session is open, its candidate. The table re-reads
 * sluice.endpoints, the aliases and the shadow sessions when a NOTIFY arrives on
 * {@link ENDPOINTS_CHANNEL} (sent in the transaction that changed them, see notify.ts) and every
 * `pollMs` in case one was missed. A new model is loaded beside the one serving (bytes verified
 * before a session exists) and the endpoint's state is replaced in one assignment only when it is
 * ready: a request sees the old state or the new one, never a half-loaded one. A model that fails
 * to load (sha256 mismatch, missing file, no signature) is refused: the endpoint keeps serving what
 * it served, or answers 503 with the reason when it served nothing.
 */
import type { Pool, PoolClient } from 'pg';
import type { ArtifactStore } from '../artifacts';
import { signatureMismatch } from '../onnx/signature';
import { loadModel, modelKey, type LoadedModel, type ModelRef } from './model';
import { ENDPOINTS_CHANNEL } from './notify';
import { predictionSource } from './predictionLog';

/** LISTEN takes no parameters: the channel name (ENDPOINTS_CHANNEL) written out. */
const LISTEN_ENDPOINTS = 'LISTEN sluice_endpoints';
const UNLISTEN_ENDPOINTS = 'UNLISTEN sluice_endpoints';

/** An open shadow session as the service applies it. */
export interface ShadowState {
  sessionId: number;
  candidate: LoadedModel;
  maxRequests: number;
  /** ms since the epoch. */
  endsAt: number;
}

export interface EndpointState {
  endpoint: string;
  modelName: string;
  /** The model answering; undefined when none could be loaded (then `problem` says why). */
  champion: LoadedModel | undefined;
  /** Why the champion the registry names is not the one serving (load refused, no champion yet). */
  problem: string | undefined;
  shadow: ShadowState | undefined;
  /** Why an open shadow session is not being applied. */
  shadowProblem: string | undefined;
}

interface EndpointRow {
  endpoint: string;
  model_name: string;
  version: number | null;
  sha256: string | null;
}

interface SessionRow {
  id: string;
  endpoint: string;
  candidate_version: number;
  max_requests: number;
  ends_at: Date;
  sha256: string | null;
}

const ENDPOINTS_SQL = `SELECT e.endpoint, e.model_name, a.version, m.onnx_sha256 AS sha256
  FROM sluice.endpoints e
  LEFT JOIN sluice.model_aliases a ON a.name = e.model_name AND a.alias = 'champion'
  LEFT JOIN sluice.models m ON m.name = a.name AND m.version = a.version`;

/** The newest open session of each endpoint (no end row, ends_at ahead); the request budget is counted here. */
const SESSIONS_SQL = `SELECT DISTINCT ON (s.endpoint) s.id::text AS id, s.endpoint, s.candidate_version, s.max_requests, s.ends_at,
       m.onnx_sha256 AS sha256
  FROM sluice.shadow_sessions s
  JOIN sluice.endpoints e ON e.endpoint = s.endpoint
  LEFT JOIN sluice.models m ON m.name = e.model_name AND m.version = s.candidate_version
 WHERE s.ends_at > now() AND NOT EXISTS (SELECT 1 FROM sluice.shadow_session_ends x WHERE x.session_id = s.id)
 ORDER BY s.endpoint, s.id DESC`;

/** Requests of a session already scored, as the log holds them (after a restart of the service). */
const SHADOWED_SQL = `SELECT count(DISTINCT payload->>'request_id')::int AS n FROM sluice.raw_events
 WHERE source = $1 AND payload->'shadow'->>'session_id' = $2`;

export interface EndpointTableOptions {
  pool: Pool;
  artifacts: ArtifactStore;
  log: (message: string) => void;
  /** A model was refused or could not be loaded (the metric of load failures). */
  onLoadFailure?: (endpoint: string, ref: ModelRef, message: string) => void;
}

export class EndpointTable {
  private states = new Map<string, EndpointState>();
  /** Loaded models by {@link modelKey}, shared by the endpoints and roles that use them. */
  private readonly models = new Map<string, LoadedModel>();
  /** Why a model could not be loaded, by key: reported once per change of the reason. */
  private readonly failures = new Map<string, string>();
  /** Requests scored in each shadow session (seeded from the log the first time a session is seen). */
  private readonly shadowed = new Map<number, number>();
  private refreshing: Promise<void> | undefined;
  private again = false;
  private listener: PoolClient | undefined;
  private poller: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly o: EndpointTableOptions) {}

  /** The state of an endpoint, or undefined when it is not in sluice.endpoints. */
  get(endpoint: string): EndpointState | undefined {
    return this.states.get(endpoint);
  }

  all(): EndpointState[] {
    return [...this.states.values()];
  }

  /**
   * Takes one request of the shadow session's budget: true when the request is to be shadowed
   * (the session has not ended and has scored fewer than max_requests requests).
   */
  claimShadow(shadow: ShadowState, now = Date.now()): boolean {
    if (now >= shadow.endsAt) return false;
    const n = this.shadowed.get(shadow.sessionId) ?? 0;
    if (n >= shadow.maxRequests) return false;
    this.shadowed.set(shadow.sessionId, n + 1);
    return true;
  }

  /** Re-reads what every endpoint serves and loads what changed; calls during a refresh run once more after it. */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.again = true;
      return this.refreshing;
    }
    const run = async (): Promise<void> => {
      do {
        this.again = false;
        await this.refreshOnce();
      } while (this.again && !this.closed);
    };
    this.refreshing = run().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /** First load, then LISTEN on a connection of its own and poll every `pollMs`. */
  async start(pollMs: number): Promise<void> {
    await this.refresh();
    await this.listen();
    this.poller = setInterval(() => {
      if (!this.listener) void this.listen();
      this.refresh().catch((err: unknown) => this.o.log(`refreshing the endpoints failed (next poll retries): ${(err as Error).message}`));
    }, pollMs);
    this.poller.unref();
  }

  private async listen(): Promise<void> {
    if (this.closed || this.listener) return;
    let client: PoolClient;
    try {
      client = await this.o.pool.connect();
    } catch (err) {
      this.o.log(`cannot LISTEN for endpoint changes (polling until it can): ${(err as Error).message}`);
      return;
    }
    client.on('notification', (n) => {
      if (n.channel === ENDPOINTS_CHANNEL)
        this.refresh().catch((err: unknown) =>
          this.o.log(`refreshing after a change of ${n.payload ?? '?'} failed (next poll retries): ${(err as Error).message}`),
        );
    });
    client.on('error', (err) => {
      this.o.log(`the LISTEN connection failed (polling until it is back): ${err.message}`);
      if (this.listener === client) this.listener = undefined;
      client.release(err);
    });
    try {
      await client.query(LISTEN_ENDPOINTS);
    } catch (err) {
      client.release(err as Error);
      this.o.log(`could not listen on channel ${ENDPOINTS_CHANNEL} (polling until it works): ${(err as Error).message}`);
      return;
    }
    this.listener = client;
    // A change between the last read and the LISTEN would otherwise wait for the next poll.
    this.refresh().catch((err: unknown) => this.o.log(`refreshing the endpoints failed (next poll retries): ${(err as Error).message}`));
  }

  private async model(endpoint: string, ref: ModelRef): Promise<{ model?: LoadedModel; problem?: string }> {
    const key = modelKey(ref);
    const loaded = this.models.get(key);
    if (loaded) return { model: loaded };
    try {
      const model = await loadModel(this.o.artifacts, ref);
      this.models.set(key, model);
      this.failures.delete(key);
      this.o.log(`loaded ${ref.name}@${ref.version} (sha256 ${ref.sha256}) for endpoint ${endpoint}`);
      return { model };
    } catch (err) {
      const problem = `model ${ref.name}@${ref.version} cannot be served: ${(err as Error).message}`;
      if (this.failures.get(key) !== problem) {
        this.failures.set(key, problem);
        this.o.log(`endpoint ${endpoint}: ${problem}`);
      }
      this.o.onLoadFailure?.(endpoint, ref, problem);
      return { problem };
    }
  }

  private async refreshOnce(): Promise<void> {
    const [endpoints, sessions] = await Promise.all([
      this.o.pool.query<EndpointRow>(ENDPOINTS_SQL),
      this.o.pool.query<SessionRow>(SESSIONS_SQL),
    ]);
    const sessionOf = new Map(sessions.rows.map((s) => [s.endpoint, s]));
    const next = new Map<string, EndpointState>();
    for (const row of endpoints.rows) {
      const old = this.states.get(row.endpoint);
      let champion = old?.champion;
      let problem: string | undefined;
      if (row.version === null || row.sha256 === null) {
        champion = undefined;
        problem = `model ${row.model_name} has no champion yet`;
      } else {
        const ref = { name: row.model_name, version: row.version, sha256: row.sha256 };
        if (champion?.key !== modelKey(ref)) {
          const got = await this.model(row.endpoint, ref);
          // refused: the endpoint keeps what it served (or nothing, and says why)
          if (got.model) champion = got.model;
          problem = got.problem;
        }
      }
      let shadow: ShadowState | undefined;
      let shadowProblem: string | undefined;
      const s = sessionOf.get(row.endpoint);
      if (s && s.sha256 === null) shadowProblem = `shadow session ${s.id}: ${row.model_name}@${s.candidate_version} is not registered`;
      else if (s && s.sha256 !== null) {
        const got = await this.model(row.endpoint, { name: row.model_name, version: s.candidate_version, sha256: s.sha256 });
        const mismatch = got.model && champion ? signatureMismatch(champion.rows.signature, got.model.rows.signature) : undefined;
        if (!got.model) shadowProblem = `shadow session ${s.id}: ${got.problem ?? ''}`;
        else if (mismatch) shadowProblem = `shadow session ${s.id}: the candidate cannot score the endpoint's rows (${mismatch})`;
        else {
          const sessionId = Number(s.id);
          if (!this.shadowed.has(sessionId)) {
            const { rows } = await this.o.pool.query<{ n: number }>(SHADOWED_SQL, [predictionSource(row.endpoint), s.id]);
            if (!this.shadowed.has(sessionId)) this.shadowed.set(sessionId, rows[0]?.n ?? 0);
          }
          shadow = { sessionId, candidate: got.model, maxRequests: s.max_requests, endsAt: s.ends_at.getTime() };
        }
      }
      if (shadowProblem && old?.shadowProblem !== shadowProblem) this.o.log(`endpoint ${row.endpoint}: ${shadowProblem}`);
      next.set(row.endpoint, { endpoint: row.endpoint, modelName: row.model_name, champion, problem, shadow, shadowProblem });
    }
    // The switch: one assignment. Requests that took the old state finish on its models.
    this.states = next;
    const inUse = new Set<string>();
    for (const st of next.values()) {
      if (st.champion) inUse.add(st.champion.key);
      if (st.shadow) inUse.add(st.shadow.candidate.key);
    }
    for (const [key, model] of this.models) {
      if (!inUse.has(key)) {
        this.models.delete(key);
        model.retire();
      }
    }
  }

  /** Stops listening and polling and releases every session (after the requests using them). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.poller) clearInterval(this.poller);
    // a failed refresh was reported where it ran; closing goes on regardless
    await this.refreshing?.then(
      () => undefined,
      () => undefined,
    );
    if (this.listener) {
      const client = this.listener;
      this.listener = undefined;
      try {
        await client.query(UNLISTEN_ENDPOINTS);
        client.release();
      } catch (err) {
        // the connection is broken: the pool drops it instead of handing it out again
        client.release(err as Error);
      }
    }
    for (const model of this.models.values()) model.retire();
    this.models.clear();
    this.states = new Map();
  }
}
