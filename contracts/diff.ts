/**
 * Contract evolution: classifies each difference between two versions of a contract's record
 * schema as `breaking` or `compatible`.
 *
 * The rule: a change is breaking when a record valid under the old version can be invalid under
 * the new one (the schema narrowed), or when consumers lose a field; it is compatible when the
 * schema only widened or an annotation changed. Changes this module cannot prove to be widening
 * (an edited `anyOf`, a changed `pattern`) are breaking: a false alarm costs a major version, a
 * missed break costs a pipeline.
 */
import { compareVersions, type Contract } from './registry';
import { canonicalJson } from './canonical';

export type ChangeKind = 'breaking' | 'compatible';

export interface SchemaChange {
  kind: ChangeKind;
  /** JSON pointer into the record (`/user/name`; `/*` for array items). */
  field: string;
  /** Stable code: field_removed, type_narrowed, enum_widened, ... */
  code: string;
  message: string;
}

export interface ContractDiff {
  contract: string;
  from: string;
  to: string;
  changes: SchemaChange[];
  breaking: boolean;
  majorBumped: boolean;
  /** Breaking changes without a major version bump (or a version that did not increase). */
  violation: string | undefined;
}

type Schema = Record<string, unknown>;

const ANNOTATIONS = new Set([
  'title',
  'description',
  '$comment',
  'examples',
  'default',
  'deprecated',
  'readOnly',
  'writeOnly',
  '$schema',
  '$id',
]);
const UPPER = ['maxLength', 'maximum', 'exclusiveMaximum', 'maxItems', 'maxProperties'];
const LOWER = ['minLength', 'minimum', 'exclusiveMinimum', 'minItems', 'minProperties'];
const HANDLED = new Set([
  'type',
  'properties',
  'required',
  'enum',
  'const',
  'pattern',
  'format',
  'additionalProperties',
  'items',
  'multipleOf',
  'uniqueItems',
  ...UPPER,
  ...LOWER,
]);

const asSchema = (v: unknown): Schema | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Schema) : undefined);
/** Key order does not matter: `{a, b}` and `{b, a}` are the same schema. */
const json = (v: unknown): string => (v === undefined ? 'undefined' : canonicalJson(v));

function typesOf(s: Schema): Set<string> | undefined {
  if (s.type === undefined) return undefined;
  return new Set(Array.isArray(s.type) ? (s.type as string[]) : [s.type as string]);
}

/** Does type set `a` accept everything type set `b` does? (`number` covers `integer`.) */
function covers(a: Set<string>, b: Set<string>): boolean {
  return [...b].every((t) => a.has(t) || (t === 'integer' && a.has('number')));
}

function change(out: SchemaChange[], kind: ChangeKind, field: string, code: string, message: string): void {
  out.push({ kind, field: field || '/', code, message });
}

/** Differences between two record schemas, old → new. */
export function diffSchemas(oldS: Schema, newS: Schema, at = ''): SchemaChange[] {
  const out: SchemaChange[] = [];
  const f = at || '/';

  // type
  const ot = typesOf(oldS);
  const nt = typesOf(newS);
  if (ot && !nt) change(out, 'compatible', at, 'type_widened', `${f}: type constraint ${json(oldS.type)} removed`);
  else if (!ot && nt) change(out, 'breaking', at, 'type_narrowed', `${f}: type constraint ${json(newS.type)} added`);
  else if (ot && nt && json([...ot].sort()) !== json([...nt].sort())) {
    if (covers(nt, ot)) change(out, 'compatible', at, 'type_widened', `${f}: type widened from ${json(oldS.type)} to ${json(newS.type)}`);
    else change(out, 'breaking', at, 'type_narrowed', `${f}: type narrowed from ${json(oldS.type)} to ${json(newS.type)}`);
  }

  // enum / const
  for (const key of ['enum', 'const'] as const) {
    const o = key === 'enum' ? (oldS.enum as unknown[] | undefined) : oldS.const === undefined ? undefined : [oldS.const];
    const n = key === 'enum' ? (newS.enum as unknown[] | undefined) : newS.const === undefined ? undefined : [newS.const];
    if (o && !n) change(out, 'compatible', at, `${key}_removed`, `${f}: ${key} ${json(key === 'enum' ? o : o[0])} removed`);
    else if (!o && n) change(out, 'breaking', at, `${key}_added`, `${f}: ${key} ${json(key === 'enum' ? n : n[0])} added`);
    else if (o && n) {
      const ns = new Set(n.map(json));
      const os = new Set(o.map(json));
      const removed = o.filter((v) => !ns.has(json(v)));
      const added = n.filter((v) => !os.has(json(v)));
      if (removed.length) change(out, 'breaking', at, `${key}_narrowed`, `${f}: ${key} lost ${removed.map(json).join(', ')}`);
      if (added.length) change(out, 'compatible', at, `${key}_widened`, `${f}: ${key} gained ${added.map(json).join(', ')}`);
    }
  }

  // pattern / format / multipleOf: any new or changed constraint may reject old records
  for (const key of ['pattern', 'format', 'multipleOf']) {
    const o = oldS[key];
    const n = newS[key];
    if (json(o) === json(n)) continue;
    if (n === undefined) change(out, 'compatible', at, `${key}_removed`, `${f}: ${key} ${json(o)} removed`);
    else if (o === undefined) change(out, 'breaking', at, `${key}_added`, `${f}: ${key} ${json(n)} added`);
    else
      change(
        out,
        'breaking',
        at,
        `${key}_tightened`,
        `${f}: ${key} changed from ${json(o)} to ${json(n)} (cannot prove it accepts the old values)`,
      );
  }

  // bounds
  for (const key of UPPER) {
    const o = oldS[key] as number | undefined;
    const n = newS[key] as number | undefined;
    if (o === n) continue;
    if (n === undefined) change(out, 'compatible', at, `${key}_removed`, `${f}: ${key} ${o} removed`);
    else if (o === undefined || n < o)
      change(out, 'breaking', at, `${key}_lowered`, `${f}: ${key} ${o === undefined ? 'added' : `lowered from ${o}`} to ${n}`);
    else change(out, 'compatible', at, `${key}_raised`, `${f}: ${key} raised from ${o} to ${n}`);
  }
  for (const key of LOWER) {
    const o = oldS[key] as number | undefined;
    const n = newS[key] as number | undefined;
    if (o === n) continue;
    if (n === undefined) change(out, 'compatible', at, `${key}_removed`, `${f}: ${key} ${o} removed`);
    else if (o === undefined || n > o)
      change(out, 'breaking', at, `${key}_raised`, `${f}: ${key} ${o === undefined ? 'added' : `raised from ${o}`} to ${n}`);
    else change(out, 'compatible', at, `${key}_lowered`, `${f}: ${key} lowered from ${o} to ${n}`);
  }
  if (oldS.uniqueItems !== newS.uniqueItems) {
    if (newS.uniqueItems === true) change(out, 'breaking', at, 'uniqueItems_added', `${f}: uniqueItems added`);
    else change(out, 'compatible', at, 'uniqueItems_removed', `${f}: uniqueItems removed`);
  }

  // object properties
  const op = asSchema(oldS.properties) ?? {};
  const np = asSchema(newS.properties) ?? {};
  const oreq = new Set((oldS.required as string[] | undefined) ?? []);
  const nreq = new Set((newS.required as string[] | undefined) ?? []);
  for (const name of Object.keys(op)) {
    const p = `${at}/${name}`;
    if (!(name in np)) change(out, 'breaking', p, 'field_removed', `${p}: field removed`);
    else out.push(...diffSchemas(asSchema(op[name]) ?? {}, asSchema(np[name]) ?? {}, p));
  }
  for (const name of Object.keys(np)) {
    const p = `${at}/${name}`;
    if (name in op) continue;
    if (nreq.has(name)) change(out, 'breaking', p, 'required_field_added', `${p}: new required field`);
    else change(out, 'compatible', p, 'optional_field_added', `${p}: optional field added`);
  }
  for (const name of nreq) {
    if (!oreq.has(name) && name in op)
      change(out, 'breaking', `${at}/${name}`, 'field_made_required', `${at}/${name}: existing field is now required`);
    else if (!oreq.has(name) && !(name in op) && !(name in np))
      change(out, 'breaking', `${at}/${name}`, 'required_field_added', `${at}/${name}: new required field`);
  }
  for (const name of oreq) {
    if (!nreq.has(name) && name in np)
      change(out, 'compatible', `${at}/${name}`, 'field_made_optional', `${at}/${name}: field is now optional`);
  }

  // additionalProperties
  const oa = oldS.additionalProperties;
  const na = newS.additionalProperties;
  if (json(oa) !== json(na)) {
    const open = (v: unknown): boolean => v === undefined || v === true;
    if (open(oa) && na === false) change(out, 'breaking', at, 'additional_properties_closed', `${f}: additionalProperties closed`);
    else if (oa === false && open(na)) change(out, 'compatible', at, 'additional_properties_opened', `${f}: additionalProperties opened`);
    else if (asSchema(oa) && asSchema(na)) out.push(...diffSchemas(asSchema(oa) ?? {}, asSchema(na) ?? {}, `${at}/*`));
    else change(out, 'breaking', at, 'additional_properties_changed', `${f}: additionalProperties changed from ${json(oa)} to ${json(na)}`);
  }

  // array items
  if (json(oldS.items) !== json(newS.items)) {
    const oi = asSchema(oldS.items);
    const ni = asSchema(newS.items);
    if (oi && ni) out.push(...diffSchemas(oi, ni, `${at}/*`));
    else if (oi && !ni) change(out, 'compatible', `${at}/*`, 'items_removed', `${at}/*: items constraint removed`);
    else change(out, 'breaking', `${at}/*`, 'items_changed', `${at}/*: items changed`);
  }

  // everything else: annotations are compatible, other keywords are unproven and so breaking
  const keys = new Set([...Object.keys(oldS), ...Object.keys(newS)]);
  for (const key of keys) {
    if (HANDLED.has(key) || json(oldS[key]) === json(newS[key])) continue;
    if (ANNOTATIONS.has(key)) change(out, 'compatible', at, 'annotation_changed', `${f}: ${key} changed`);
    else change(out, 'breaking', at, `${key}_changed`, `${f}: "${key}" changed (not classified, treated as breaking)`);
  }
  return out;
}

const major = (v: string): number => Number(v.split('.')[0]);

/** Compares two versions of one contract: schema changes plus the semantic-version rule. */
export function diffContracts(oldC: Contract, newC: Contract): ContractDiff {
  const changes = diffSchemas(oldC.schema, newC.schema);
  const oldPii = new Set(oldC.pii ?? []);
  for (const p of newC.pii ?? [])
    if (!oldPii.has(p)) changes.push({ kind: 'compatible', field: p, code: 'pii_added', message: `${p}: now marked PII` });
  for (const p of oldPii)
    if (!(newC.pii ?? []).includes(p))
      changes.push({ kind: 'compatible', field: p, code: 'pii_removed', message: `${p}: no longer marked PII` });
  if (json(oldC.expectations ?? []) !== json(newC.expectations ?? [])) {
    changes.push({
      kind: 'compatible',
      field: '/',
      code: 'expectations_changed',
      message: 'expectation suite changed (checks on data, not on its shape)',
    });
  }
  const breaking = changes.some((c) => c.kind === 'breaking');
  const majorBumped = major(newC.version) > major(oldC.version);
  let violation: string | undefined;
  if (oldC.contract !== newC.contract) violation = `different contracts: ${oldC.contract} vs ${newC.contract}`;
  else if (compareVersions(newC.version, oldC.version) <= 0) violation = `version ${newC.version} does not come after ${oldC.version}`;
  else if (breaking && !majorBumped) {
    violation = `${changes.filter((c) => c.kind === 'breaking').length} breaking change(s) from ${oldC.version} to ${newC.version} need a major version bump (${major(oldC.version) + 1}.0.0)`;
  }
  return { contract: newC.contract, from: oldC.version, to: newC.version, changes, breaking, majorBumped, violation };
}

/** The CI check: every version of every contract against its predecessor. */
export function checkContractEvolution(contracts: Contract[]): ContractDiff[] {
  const byName = new Map<string, Contract[]>();
  for (const c of contracts) byName.set(c.contract, [...(byName.get(c.contract) ?? []), c]);
  const diffs: ContractDiff[] = [];
  for (const list of byName.values()) {
    list.sort((a, b) => compareVersions(a.version, b.version));
    for (let i = 1; i < list.length; i++) diffs.push(diffContracts(list[i - 1] as Contract, list[i] as Contract));
  }
  return diffs;
}

export function formatDiff(d: ContractDiff): string {
  const lines = [
    `${d.contract} ${d.from} -> ${d.to}: ${d.breaking ? 'BREAKING' : 'compatible'}${d.majorBumped ? ' (major version bumped)' : ''}`,
  ];
  for (const c of d.changes) lines.push(`  ${c.kind === 'breaking' ? 'breaking  ' : 'compatible'}  ${c.code.padEnd(28)} ${c.message}`);
  if (!d.changes.length) lines.push('  no changes');
  if (d.violation) lines.push(`  ERROR: ${d.violation}`);
  return lines.join('\n');
}
