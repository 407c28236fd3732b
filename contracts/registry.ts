/**
 * Data contracts: versioned files in contracts/ (JSON or YAML), each checked against
 * contract.schema.json, with record validators compiled once per (contract, version).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import YAML from 'yaml';
import contractSchema from './contract.schema.json';
import { expectationColumns, expectationName, type Expectation } from './expectations';

export const CONTRACTS_DIR = __dirname;

export interface Contract {
  contract: string;
  version: string;
  owner: string;
  description?: string;
  eventId?: string;
  eventTime?: string;
  pii?: string[];
  schema: Record<string, unknown>;
  expectations?: Expectation[];
  /** File the contract was read from. */
  file: string;
}

/** One problem with a contract file: which file, where in it (JSON pointer), and why. */
export interface ContractFileIssue {
  file: string;
  path: string;
  code: string;
  message: string;
}

/** One reason a record breaks its contract (machine-readable: it is stored as the quarantine reason). */
export interface ValidationIssue {
  contract: string;
  version: string;
  /** JSON pointer into the record. */
  pointer: string;
  keyword: string;
  message: string;
}

export type ValidationResult = { ok: true } | { ok: false; issues: ValidationIssue[] };

export class ContractFileError extends Error {
  constructor(readonly issues: ContractFileIssue[]) {
    super(`Invalid contract file(s):\n${issues.map((i) => `  ${i.file} at ${i.path || '/'}: ${i.message}`).join('\n')}`);
    this.name = 'ContractFileError';
  }
}

export class UnknownContractError extends Error {
  constructor(
    readonly contract: string,
    readonly version: string | undefined,
    known: string[],
  ) {
    super(
      `Unknown contract ${contract}${version ? `@${version}` : ''}` +
        (known.length ? `; known: ${known.join(', ')}` : '; no contracts are registered'),
    );
    this.name = 'UnknownContractError';
  }
}

function newAjv(options: { discriminator?: boolean } = {}): Ajv2020 {
  // strict: unknown keywords and ambiguous schemas are errors; $data off: schemas are data, not code.
  const ajv = new Ajv2020({ strict: true, allErrors: true, $data: false, validateFormats: true, ...options });
  addFormats(ajv);
  return ajv;
}

// The meta-schema tells expectation types apart by their "type" (one clear error instead of one per oneOf branch).
const metaAjv = newAjv({ discriminator: true });
const validateContractFile = metaAjv.compile(contractSchema);

/** Compares semantic versions "1.2.3"; negative when a < b. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Warnings for schema parts that let a hostile record cost unbounded time or memory (ajv's
 * secure-schema rules, lib/refs/json-schema-secure.json, and a little more): strings with `pattern`
 * or `format` but no `maxLength`, arrays with no `maxItems`, `patternProperties` without bounded
 * property names, patterns with nested quantifiers. Each names the field.
 */
export function secureSchemaWarnings(schema: unknown, at = ''): string[] {
  const out: string[] = [];
  if (schema === null || typeof schema !== 'object') return out;
  const s = schema as Record<string, unknown>;
  const types = Array.isArray(s.type) ? s.type : [s.type];
  if (
    (s.pattern !== undefined || s.format !== undefined) &&
    s.maxLength === undefined &&
    (types.includes('string') || s.type === undefined)
  ) {
    out.push(`${at || '/'}: ${s.pattern !== undefined ? '"pattern"' : '"format"'} without "maxLength" (unbounded string)`);
  }
  if (types.includes('array') && s.maxItems === undefined) out.push(`${at || '/'}: array without "maxItems" (unbounded array)`);
  if (s.patternProperties !== undefined && (s.propertyNames as { maxLength?: unknown } | undefined)?.maxLength === undefined) {
    out.push(`${at || '/'}: "patternProperties" without "propertyNames": { "maxLength" } (unbounded property names)`);
  }
  if (typeof s.pattern === 'string' && hasNestedQuantifier(s.pattern)) {
    out.push(`${at || '/'}: "pattern" ${JSON.stringify(s.pattern)} nests quantifiers (catastrophic backtracking in JS regexes)`);
  }
  for (const key of ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']) {
    const group = s[key];
    if (group && typeof group === 'object') {
      for (const [name, sub] of Object.entries(group as Record<string, unknown>)) out.push(...secureSchemaWarnings(sub, `${at}/${name}`));
    }
  }
  for (const key of ['items', 'additionalProperties', 'contains', 'not', 'if', 'then', 'else', 'propertyNames']) {
    if (s[key] && typeof s[key] === 'object') out.push(...secureSchemaWarnings(s[key], key === 'items' ? `${at}/*` : at));
  }
  for (const key of ['allOf', 'anyOf', 'oneOf', 'prefixItems']) {
    if (Array.isArray(s[key])) (s[key] as unknown[]).forEach((sub) => out.push(...secureSchemaWarnings(sub, at)));
  }
  return out;
}

/**
 * True when a regex has a quantified group that itself contains a quantifier, like `(a+)+` or
 * `(\\w*\\s?)*`: the shape behind exponential backtracking in JS (ajv compiles `pattern` with RegExp).
 * A syntactic check, so it errs on the side of warning.
 */
export function hasNestedQuantifier(pattern: string): boolean {
  const stack: boolean[] = []; // per open group: does it contain a quantifier?
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '\\') {
      i++;
      continue;
    }
    if (ch === '[') {
      // skip a character class
      for (i++; i < pattern.length && pattern[i] !== ']'; i++) if (pattern[i] === '\\') i++;
      continue;
    }
    if (ch === '(') stack.push(false);
    else if (ch === ')') {
      const inner = stack.pop() ?? false;
      const next = pattern[i + 1];
      const quantified = next === '*' || next === '+' || next === '{' || next === '?';
      if (inner && quantified && next !== '?') return true;
      if ((inner || quantified) && stack.length) stack[stack.length - 1] = true;
    } else if ((ch === '*' || ch === '+' || ch === '{') && stack.length) stack[stack.length - 1] = true;
  }
  return false;
}

function toIssue(file: string, e: ErrorObject): ContractFileIssue {
  const extra =
    e.keyword === 'additionalProperties' ? `: "${String((e.params as { additionalProperty?: string }).additionalProperty)}"` : '';
  return { file, path: e.instancePath, code: e.keyword, message: `${e.message ?? e.keyword}${extra}` };
}

/** Reads and checks one contract file; never throws for bad content. */
export function parseContractFile(
  file: string,
  text?: string,
): { ok: true; value: Contract; warnings: string[] } | { ok: false; issues: ContractFileIssue[] } {
  let raw: unknown;
  try {
    const content = text ?? fs.readFileSync(file, 'utf8');
    raw = /\.ya?ml$/i.test(file) ? YAML.parse(content, { maxAliasCount: 100 }) : JSON.parse(content);
  } catch (err) {
    return { ok: false, issues: [{ file, path: '', code: 'parse', message: (err as Error).message.split('\n')[0] ?? 'cannot parse' }] };
  }
  if (!validateContractFile(raw)) {
    return { ok: false, issues: (validateContractFile.errors ?? []).map((e) => toIssue(file, e)) };
  }
  const value = { ...(raw as Omit<Contract, 'file'>), file };
  try {
    newAjv().compile(value.schema);
  } catch (err) {
    return { ok: false, issues: [{ file, path: '/schema', code: 'schema', message: (err as Error).message }] };
  }
  const refIssues = fieldReferenceIssues(value);
  if (refIssues.length) return { ok: false, issues: refIssues };
  return { ok: true, value, warnings: secureSchemaWarnings(value.schema).map((w) => `${file}: schema${w}`) };
}

/** Top-level fields a contract's records may have (the columns expectations can name). */
export function contractFields(c: Pick<Contract, 'schema'>): string[] {
  const props = c.schema.properties;
  return props && typeof props === 'object' ? Object.keys(props as Record<string, unknown>) : [];
}

/** PII pointers and expectation columns must name fields of the schema; expectation names must be unique. */
function fieldReferenceIssues(c: Contract): ContractFileIssue[] {
  const issues: ContractFileIssue[] = [];
  const fields = new Set(contractFields(c));
  const known = [...fields].join(', ') || '(the schema declares no properties)';
  (c.pii ?? []).forEach((p, i) => {
    const top = p.slice(1).split('/')[0] ?? '';
    if (!fields.has(top))
      issues.push({
        file: c.file,
        path: `/pii/${i}`,
        code: 'unknown_field',
        message: `PII pointer ${p} names no field of the schema; fields: ${known}`,
      });
  });
  const names = new Set<string>();
  (c.expectations ?? []).forEach((e, i) => {
    for (const { path: at, column } of expectationColumns(e)) {
      // freshness on a log range may use the log's own event_time
      if (!fields.has(column) && !(e.type === 'freshness' && column === 'event_time')) {
        issues.push({
          file: c.file,
          path: `/expectations/${i}${at}`,
          code: 'unknown_field',
          message: `expectation ${expectationName(e)} names field "${column}", which the schema does not declare; fields: ${known}`,
        });
      }
    }
    const name = expectationName(e);
    if (names.has(name))
      issues.push({
        file: c.file,
        path: `/expectations/${i}/name`,
        code: 'duplicate',
        message: `two expectations are named "${name}": give one a "name"`,
      });
    names.add(name);
  });
  return issues;
}

/** A JSON pointer (RFC 6901) split once into its keys: read per event, it must be cheap. */
export function compilePointer(pointer: string): (value: unknown) => unknown {
  if (pointer === '') return (v) => v;
  const keys = pointer
    .slice(1)
    .split('/')
    .map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
  return (value) => {
    let current = value;
    for (const key of keys) {
      if (current === null || typeof current !== 'object' || !Object.prototype.hasOwnProperty.call(current, key)) return undefined;
      current = (current as Record<string, unknown>)[key];
    }
    return current;
  };
}

/** Reads a JSON pointer (RFC 6901) from a value; undefined when absent. */
export function readPointer(value: unknown, pointer: string): unknown {
  return compilePointer(pointer)(value);
}

/** All contracts of a directory tree, indexed by name and version, with cached validators. */
export class ContractRegistry {
  private readonly byName = new Map<string, Contract[]>();
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly ajv = newAjv();
  readonly warnings: string[] = [];

  constructor(contracts: Contract[], warnings: string[] = []) {
    for (const c of contracts) {
      const list = this.byName.get(c.contract) ?? [];
      if (list.some((x) => x.version === c.version)) {
        throw new ContractFileError([
          { file: c.file, path: '/version', code: 'duplicate', message: `${c.contract}@${c.version} is defined twice` },
        ]);
      }
      list.push(c);
      list.sort((a, b) => compareVersions(a.version, b.version));
      this.byName.set(c.contract, list);
    }
    this.warnings.push(...warnings);
  }

  /** Loads every *.json / *.yaml contract under `dir` (skipping workflow input schemas and the meta-schema). */
  static fromDirectory(dir: string = path.join(CONTRACTS_DIR, 'sources')): ContractRegistry {
    const files: string[] = [];
    const walk = (d: string): void => {
      for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, entry.name);
        if (entry.isDirectory()) walk(p);
        else if (/\.(json|ya?ml)$/i.test(entry.name)) files.push(p);
      }
    };
    walk(dir);
    const contracts: Contract[] = [];
    const issues: ContractFileIssue[] = [];
    const warnings: string[] = [];
    for (const file of files.sort()) {
      const r = parseContractFile(file);
      if (r.ok) {
        contracts.push(r.value);
        warnings.push(...r.warnings);
      } else issues.push(...r.issues);
    }
    if (issues.length) throw new ContractFileError(issues);
    return new ContractRegistry(contracts, warnings);
  }

  /** Every contract version, by name then version. */
  all(): Contract[] {
    return this.names().flatMap((n) => this.byName.get(n) ?? []);
  }

  names(): string[] {
    return [...this.byName.keys()].sort();
  }

  versions(name: string): string[] {
    return (this.byName.get(name) ?? []).map((c) => c.version);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The given version, or the newest one. */
  get(name: string, version?: string): Contract {
    const list = this.byName.get(name);
    const c = version ? list?.find((x) => x.version === version) : list?.[list.length - 1];
    if (!c) throw new UnknownContractError(name, version, this.names());
    return c;
  }

  /** The compiled validator of a contract version (compiled on first use, then cached). */
  validator(name: string, version?: string): (record: unknown) => ValidationResult {
    const c = this.get(name, version);
    const key = `${c.contract}@${c.version}`;
    let fn = this.validators.get(key);
    if (!fn) {
      fn = this.ajv.compile(c.schema);
      this.validators.set(key, fn);
    }
    const validate = fn;
    return (record: unknown): ValidationResult => {
      if (validate(record)) return { ok: true };
      return {
        ok: false,
        issues: (validate.errors ?? []).map((e) => ({
          contract: c.contract,
          version: c.version,
          pointer:
            e.keyword === 'required'
              ? `${e.instancePath}/${String((e.params as { missingProperty?: string }).missingProperty ?? '')}`
              : e.instancePath,
          keyword: e.keyword,
          message: e.message ?? e.keyword,
        })),
      };
    };
  }
}
