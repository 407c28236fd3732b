import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../../client/cli';
import { checkContractEvolution, diffContracts, diffSchemas } from '../../contracts/diff';
import {
  ContractRegistry,
  CONTRACTS_DIR,
  hasNestedQuantifier,
  parseContractFile,
  secureSchemaWarnings,
  type Contract,
} from '../../contracts/registry';

const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'amount'],
  properties: {
    id: { type: 'string', maxLength: 64 },
    amount: { type: 'number', minimum: 0, maximum: 1000 },
    status: { type: 'string', enum: ['new', 'paid'] },
    code: { type: 'string', pattern: '^[A-Z]{3}$', maxLength: 3 },
  },
};

function contract(version: string, s: Record<string, unknown> = schema, extra: Partial<Contract> = {}): Contract {
  return { contract: 'orders', version, owner: 'team@example.com', schema: s, file: `orders.v${version}.json`, ...extra };
}

function withProps(patch: (p: Record<string, Record<string, unknown>>, s: Record<string, unknown>) => void): Record<string, unknown> {
  const s = JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;
  patch(s.properties as Record<string, Record<string, unknown>>, s);
  return s;
}

function parse(body: Record<string, unknown>, file = 'c.json') {
  return parseContractFile(file, JSON.stringify({ contract: 'orders', version: '1.0.0', owner: 'o', schema, ...body }));
}

describe('contract files', () => {
  it('every contract in contracts/ parses, with no secure-schema warnings left unanswered', () => {
    const registry = ContractRegistry.fromDirectory();
    expect(registry.names().length).toBeGreaterThan(0);
    expect(registry.get('page_views').expectations?.length).toBeGreaterThanOrEqual(8);
    expect(registry.warnings).toEqual([]);
  });

  it('a record schema ajv rejects fails with file, path and reason', () => {
    const r = parse({ schema: { type: 'object', properties: { a: { type: 'strin' } } } }, 'bad.json');
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(r.issues).toEqual([
        expect.objectContaining({ file: 'bad.json', path: '/schema', code: 'schema', message: expect.stringMatching(/type/) }),
      ]);
  });

  it('an unknown keyword in the record schema is refused (ajv strict mode)', () => {
    const r = parse({ schema: { type: 'object', properties: { a: { type: 'string', maxLenght: 3 } } } });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues[0]?.message).toMatch(/unknown keyword: "maxLenght"/);
  });

  it("an expectation naming a missing field fails at the expectation's path", () => {
    const r = parse({
      expectations: [
        { type: 'row_count', min: 1 },
        { type: 'not_null', column: 'amount_usd' },
      ],
    });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.issues).toEqual([
        expect.objectContaining({
          path: '/expectations/1/column',
          code: 'unknown_field',
          message: expect.stringMatching(/"amount_usd".*fields: id, amount, status, code/),
        }),
      ]);
    }
  });

  it('a compound unique key with one missing field names that field', () => {
    const r = parse({ expectations: [{ type: 'unique', columns: ['id', 'nope'] }] });
    expect(!r.ok && r.issues.map((i) => i.path)).toEqual(['/expectations/0/columns/1']);
  });

  it('the expectation format is precise: unknown type, unknown option, missing bound', () => {
    const unknownType = parse({ expectations: [{ type: 'not_a_check', column: 'id' }] });
    expect(!unknownType.ok && unknownType.issues[0]).toMatchObject({ path: '/expectations/0', code: 'discriminator' });
    const unknownOption = parse({ expectations: [{ type: 'not_null', column: 'id', maxNullRatio: 0.1 }] });
    expect(!unknownOption.ok && unknownOption.issues[0]?.message).toMatch(/additional properties: "maxNullRatio"/);
    const noBound = parse({ expectations: [{ type: 'range', column: 'amount' }] });
    expect(!noBound.ok && noBound.issues.map((i) => i.code)).toContain('anyOf');
    const badRate = parse({ expectations: [{ type: 'regex', column: 'code', pattern: 'x', minRate: 2 }] });
    expect(!badRate.ok && badRate.issues[0]).toMatchObject({ path: '/expectations/0/minRate', code: 'maximum' });
  });

  it('duplicate expectation names and PII pointers to missing fields are refused', () => {
    const r = parse({
      pii: ['/email'],
      expectations: [
        { type: 'not_null', column: 'id' },
        { type: 'not_null', column: 'id', severity: 'warn' },
      ],
    });
    expect(!r.ok && r.issues.map((i) => `${i.path} ${i.code}`)).toEqual(['/pii/0 unknown_field', '/expectations/1/name duplicate']);
  });

  it('YAML contracts are read like JSON ones; a YAML syntax error names the file', () => {
    const yaml =
      'contract: orders\nversion: 1.0.0\nowner: o\nschema:\n  type: object\n  properties:\n    id: { type: string, maxLength: 9 }\nexpectations:\n  - { type: unique, columns: [id] }\n';
    const ok = parseContractFile('orders.yaml', yaml);
    expect(ok.ok && ok.value.expectations).toEqual([{ type: 'unique', columns: ['id'] }]);
    const bad = parseContractFile('orders.yaml', 'contract: [unclosed\n');
    expect(!bad.ok && bad.issues[0]).toMatchObject({ file: 'orders.yaml', code: 'parse' });
  });

  it('secure-schema warnings name the field: unbounded pattern/format strings, unbounded arrays, nested quantifiers', () => {
    const w = secureSchemaWarnings({
      type: 'object',
      properties: {
        email: { type: 'string', format: 'email' },
        tags: { type: 'array', items: { type: 'string', pattern: '^[a-z]+$' } },
        slug: { type: 'string', pattern: '^([a-z]+-?)+$', maxLength: 50 },
        ok: { type: 'string', pattern: '^[a-z]+$', maxLength: 10 },
        attrs: { type: 'object', patternProperties: { '^x-': { type: 'integer' } } },
      },
    });
    expect(w).toEqual([
      '/email: "format" without "maxLength" (unbounded string)',
      '/tags: array without "maxItems" (unbounded array)',
      '/tags/*: "pattern" without "maxLength" (unbounded string)',
      '/slug: "pattern" "^([a-z]+-?)+$" nests quantifiers (catastrophic backtracking in JS regexes)',
      '/attrs: "patternProperties" without "propertyNames": { "maxLength" } (unbounded property names)',
    ]);
    expect(['(a+)+$', '(\\w*\\s?)*', '((ab)*c)+'].map(hasNestedQuantifier)).toEqual([true, true, true]);
    expect(['^[a-z]+$', '(ab)+', '[(a+)+]', '\\(a+\\)+', '(a|b)?c*'].map(hasNestedQuantifier)).toEqual([false, false, false, false, false]);
  });

  it('compiles a validator once per (contract, version) and reuses it', () => {
    const registry = new ContractRegistry([contract('1.0.0'), contract('2.0.0')]);
    const cache = (registry as unknown as { validators: Map<string, unknown> }).validators;
    const v1 = registry.validator('orders', '1.0.0');
    expect(v1({ id: 'a', amount: 1 })).toEqual({ ok: true });
    registry.validator('orders', '1.0.0')({ id: 'b', amount: 2 });
    expect([...cache.keys()]).toEqual(['orders@1.0.0']);
    const first = cache.get('orders@1.0.0');
    registry.validator('orders')({ id: 'c', amount: 3 });
    expect([...cache.keys()]).toEqual(['orders@1.0.0', 'orders@2.0.0']);
    expect(cache.get('orders@1.0.0')).toBe(first);
  });
});

describe('contract evolution (diff)', () => {
  const cases: [string, Record<string, unknown>, 'breaking' | 'compatible', string][] = [
    ['field removed', withProps((p) => delete p.status), 'breaking', 'field_removed'],
    ['type narrowed', withProps((p) => (p.amount = { ...p.amount, type: 'integer' })), 'breaking', 'type_narrowed'],
    ['type widened', withProps((p) => (p.id = { ...p.id, type: ['string', 'null'] })), 'compatible', 'type_widened'],
    [
      'new required field',
      withProps((p, s) => {
        p.currency = { type: 'string', maxLength: 3 };
        (s.required as string[]).push('currency');
      }),
      'breaking',
      'required_field_added',
    ],
    ['existing field made required', withProps((_p, s) => (s.required as string[]).push('status')), 'breaking', 'field_made_required'],
    ['optional field added', withProps((p) => (p.note = { type: 'string', maxLength: 100 })), 'compatible', 'optional_field_added'],
    ['enum narrowed', withProps((p) => (p.status = { ...p.status, enum: ['new'] })), 'breaking', 'enum_narrowed'],
    ['enum widened', withProps((p) => (p.status = { ...p.status, enum: ['new', 'paid', 'refunded'] })), 'compatible', 'enum_widened'],
    ['pattern tightened', withProps((p) => (p.code = { ...p.code, pattern: '^[A-Z]{3}X?$' })), 'breaking', 'pattern_tightened'],
    [
      'pattern removed',
      withProps((p) => {
        const { pattern: _x, ...rest } = p.code as Record<string, unknown>;
        p.code = rest;
      }),
      'compatible',
      'pattern_removed',
    ],
    ['max lowered', withProps((p) => (p.amount = { ...p.amount, maximum: 500 })), 'breaking', 'maximum_lowered'],
    ['max raised', withProps((p) => (p.amount = { ...p.amount, maximum: 5000 })), 'compatible', 'maximum_raised'],
    ['min raised', withProps((p) => (p.amount = { ...p.amount, minimum: 1 })), 'breaking', 'minimum_raised'],
    ['maxLength added', withProps((p) => (p.status = { ...p.status, maxLength: 4 })), 'breaking', 'maxLength_lowered'],
    ['additionalProperties opened', withProps((_p, s) => delete s.additionalProperties), 'compatible', 'additional_properties_opened'],
    ['format added', withProps((p) => (p.id = { ...p.id, format: 'uuid' })), 'breaking', 'format_added'],
    ['description changed', withProps((p) => (p.id = { ...p.id, description: 'the id' })), 'compatible', 'annotation_changed'],
    ['unclassified keyword', withProps((p) => (p.id = { ...p.id, not: { const: 'x' } })), 'breaking', 'not_changed'],
  ];
  it.each(cases.map(([name, next, kind, code]) => [name, kind, code, next] as const))('%s is %s (%s)', (_name, kind, code, next) => {
    const changes = diffSchemas(schema, next);
    expect(changes).toEqual([expect.objectContaining({ kind, code })]);
  });

  it('the order of keys is not a change (an unclassified keyword with its keys reordered is not breaking)', () => {
    const before = withProps((p) => (p.id = { ...p.id, anyOf: [{ type: 'string', maxLength: 5 }, { type: 'null' }] }));
    const after = withProps((p) => (p.id = { ...p.id, anyOf: [{ maxLength: 5, type: 'string' }, { type: 'null' }] }));
    expect(diffSchemas(before, after)).toEqual([]);
  });

  it('closing additionalProperties is breaking; nested objects and array items are compared too', () => {
    const open = {
      type: 'object',
      properties: {
        a: { type: 'object', properties: { b: { type: 'integer' } } },
        xs: { type: 'array', maxItems: 5, items: { type: 'string', maxLength: 5 } },
      },
    };
    const next = {
      type: 'object',
      additionalProperties: false,
      properties: { a: { type: 'object', properties: {} }, xs: { type: 'array', maxItems: 5, items: { type: 'string', maxLength: 4 } } },
    };
    expect(diffSchemas(open, next).map((c) => `${c.kind} ${c.field} ${c.code}`)).toEqual([
      'breaking /a/b field_removed',
      'breaking /xs/* maxLength_lowered',
      'breaking / additional_properties_closed',
    ]);
  });

  it('a breaking change needs a major version bump; a compatible one does not', () => {
    const removed = withProps((p) => delete p.status);
    expect(diffContracts(contract('1.0.0'), contract('1.1.0', removed)).violation).toMatch(
      /1 breaking change\(s\) from 1.0.0 to 1.1.0 need a major version bump \(2.0.0\)/,
    );
    expect(diffContracts(contract('1.0.0'), contract('2.0.0', removed))).toMatchObject({
      breaking: true,
      majorBumped: true,
      violation: undefined,
    });
    expect(
      diffContracts(
        contract('1.0.0'),
        contract(
          '1.1.0',
          withProps((p) => (p.note = { type: 'string', maxLength: 9 })),
        ),
      ),
    ).toMatchObject({ breaking: false, violation: undefined });
    expect(diffContracts(contract('1.1.0'), contract('1.0.0')).violation).toMatch(/does not come after/);
  });

  it('the evolution check compares each version with its predecessor', () => {
    const diffs = checkContractEvolution([
      contract(
        '2.0.0',
        withProps((p) => delete p.code),
      ),
      contract('1.0.0'),
      contract(
        '2.1.0',
        withProps((p) => delete p.status),
      ),
    ]);
    expect(diffs.map((d) => `${d.from}->${d.to} ${d.violation ? 'violation' : 'ok'}`)).toEqual([
      '1.0.0->2.0.0 ok',
      '2.0.0->2.1.0 violation',
    ]);
  });
});

describe('sluice contracts CLI', () => {
  let dir: string;
  const io = () => {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), env: {} } };
  };
  const write = (name: string, c: Partial<Contract>): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, JSON.stringify({ contract: 'orders', owner: 'o', schema, ...c }, null, 2));
    return file;
  };
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-contracts-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('diff: exit 1 and a listed breaking change without a major bump; exit 0 with one', async () => {
    const a = write('orders.v1.0.0.json', { version: '1.0.0' });
    const b = write('orders.v1.1.0.json', { version: '1.1.0', schema: withProps((p) => (p.status = { ...p.status, enum: ['new'] })) });
    const c = write('orders.v2.0.0.json', { version: '2.0.0', schema: withProps((p) => (p.status = { ...p.status, enum: ['new'] })) });
    const r1 = io();
    expect(await runCli(['contracts', 'diff', a, b], r1.io)).toBe(1);
    expect(r1.out.join('')).toMatch(
      /orders 1.0.0 -> 1.1.0: BREAKING[\s\S]*breaking\s+enum_narrowed\s+\/status: enum lost "paid"[\s\S]*ERROR: 1 breaking change/,
    );
    expect(r1.out.join('')).toMatch(/set DATABASE_URL to list/);
    const r2 = io();
    expect(await runCli(['contracts', 'diff', a, c, '--json'], r2.io)).toBe(0);
    expect(JSON.parse(r2.out.join(''))).toMatchObject({ breaking: true, majorBumped: true, changes: [{ code: 'enum_narrowed' }] });
    // name@version refers to the registry directory
    const r3 = io();
    expect(await runCli(['contracts', 'diff', 'orders@1.0.0', 'orders@2.0.0', '--dir', dir], r3.io)).toBe(0);
    // the check over the directory fails on the 1.0.0 -> 1.1.0 step
    const r4 = io();
    expect(await runCli(['contracts', 'check', dir], r4.io)).toBe(1);
    expect(r4.out.join('')).toMatch(/3 contract version\(s\), 2 evolution step\(s\), 1 violation\(s\)/);
  });

  it('a bad contract file exits 1 naming the file; usage errors exit 2', async () => {
    const bad = write('broken.json', { version: '1.0.0', expectations: [{ type: 'not_null', column: 'nope' }] as never });
    const r = io();
    expect(await runCli(['contracts', 'diff', bad, bad], r.io)).toBe(1);
    expect(r.err.join('')).toMatch(/broken\.json at \/expectations\/0\/column: expectation not_null:nope names field "nope"/);
    expect(await runCli(['contracts', 'diff', 'only-one'], io().io)).toBe(2);
    expect(await runCli(['nope'], io().io)).toBe(2);
  });

  it('CI check: every contract version in contracts/ is compatible with its predecessor or bumps the major version', async () => {
    const r = io();
    const code = await runCli(['contracts', 'check', path.join(CONTRACTS_DIR, 'sources')], r.io);
    expect(r.err.join('')).toBe('');
    expect(code).toBe(0);
  });
});
