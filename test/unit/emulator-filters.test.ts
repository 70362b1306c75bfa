import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  checkFilterSupport,
  type FilterNode,
  FilterSyntaxError,
  matchesFilter,
  parseFilter,
  readDottedField,
  UnsupportedFilterError,
} from '../../src/emulator/filters.ts';

const parseCases: Array<[string, FilterNode]> = [
  [
    'name eq "Service Accounts"',
    { kind: 'comparison', field: 'name', operator: 'eq', value: 'Service Accounts' },
  ],
  ['id in ("a","b", "c")', { kind: 'in', field: 'id', values: ['a', 'b', 'c'] }],
  ['name sw "aud"', { kind: 'comparison', field: 'name', operator: 'sw', value: 'aud' }],
  ['name co "udi"', { kind: 'comparison', field: 'name', operator: 'co', value: 'udi' }],
  [
    'name eq "say \\"hi\\""',
    { kind: 'comparison', field: 'name', operator: 'eq', value: 'say "hi"' },
  ],
  [
    'name eq "back\\\\slash"',
    { kind: 'comparison', field: 'name', operator: 'eq', value: 'back\\slash' },
  ],
  [
    'uncorrelated eq true',
    { kind: 'comparison', field: 'uncorrelated', operator: 'eq', value: true },
  ],
  ['priority eq 10', { kind: 'comparison', field: 'priority', operator: 'eq', value: 10 }],
  ['owner.id eq "x"', { kind: 'comparison', field: 'owner.id', operator: 'eq', value: 'x' }],
  ['manager isnull', { kind: 'presence', field: 'manager', operator: 'isnull' }],
  ['groups ca ("a","b")', { kind: 'ca', field: 'groups', values: ['a', 'b'] }],
  ['pr manager', { kind: 'presence', field: 'manager', operator: 'pr' }],
  [
    'sourceId eq "s1" and nativeIdentity eq "SA-001"',
    {
      kind: 'and',
      operands: [
        { kind: 'comparison', field: 'sourceId', operator: 'eq', value: 's1' },
        { kind: 'comparison', field: 'nativeIdentity', operator: 'eq', value: 'SA-001' },
      ],
    },
  ],
  [
    'a eq "1" or b eq "2" and c eq "3"',
    {
      kind: 'or',
      operands: [
        { kind: 'comparison', field: 'a', operator: 'eq', value: '1' },
        {
          kind: 'and',
          operands: [
            { kind: 'comparison', field: 'b', operator: 'eq', value: '2' },
            { kind: 'comparison', field: 'c', operator: 'eq', value: '3' },
          ],
        },
      ],
    },
  ],
  [
    '(a eq "1" or b eq "2") and not c eq "3"',
    {
      kind: 'and',
      operands: [
        {
          kind: 'or',
          operands: [
            { kind: 'comparison', field: 'a', operator: 'eq', value: '1' },
            { kind: 'comparison', field: 'b', operator: 'eq', value: '2' },
          ],
        },
        { kind: 'not', operand: { kind: 'comparison', field: 'c', operator: 'eq', value: '3' } },
      ],
    },
  ],
];

for (const [text, expected] of parseCases) {
  test(`parse ${text}`, () => {
    assert.equal(parseFilter(text), expected);
  });
}

const syntaxErrors = [
  '',
  'name',
  'name eq',
  'name EQ "x"',
  'name eq "unterminated',
  'name eq "bad \\n escape"',
  'name eq x',
  'id in ("a" "b")',
  'id in "a"',
  'groups ca "a"',
  'name eq "a" and',
  '(name eq "a"',
  'name eq "a")',
  'name eq "a" # b',
];

for (const text of syntaxErrors) {
  test(`parse rejects ${JSON.stringify(text)}`, () => {
    assert.throws(
      () => parseFilter(text),
      (error: unknown) => error instanceof FilterSyntaxError,
    );
  });
}

test('uppercase operator hint', () => {
  try {
    parseFilter('name EQ "x"');
    assert.unreachable('parseFilter accepted an uppercase operator');
  } catch (error) {
    assert.match((error as Error).message, 'operators are lowercase');
  }
});

const account = {
  name: 'Audit01',
  sourceId: 's1',
  nativeIdentity: 'SA-001',
  identity: { name: 'audit01' },
  groups: ['admins', 'ops'],
  manager: null,
  priority: 10,
};

const matchCases: Array<[string, boolean]> = [
  ['name eq "audit01"', true],
  ['name eq "audit02"', false],
  ['name ne "audit02"', true],
  ['name sw "AUD"', true],
  ['name co "dit"', true],
  ['name co "xyz"', false],
  ['sourceId in ("s0", "s1")', true],
  ['sourceId in ("s0")', false],
  ['sourceId eq "s1" and nativeIdentity eq "SA-001"', true],
  ['sourceId eq "s1" and nativeIdentity eq "SA-002"', false],
  ['sourceId eq "s2" or nativeIdentity eq "SA-001"', true],
  ['not sourceId eq "s1"', false],
  ['identity.name eq "audit01"', true],
  ['groups eq "ops"', true],
  ['groups ne "ops"', false],
  ['groups ne "dev"', true],
  ['groups ca ("ops", "ADMINS")', true],
  ['groups ca ("ops", "dev")', false],
  ['name ca ("audit01")', false],
  ['manager isnull', true],
  ['pr manager', false],
  ['pr name', true],
  ['priority gt 5', true],
  ['priority le 5', false],
];

for (const [text, expected] of matchCases) {
  test(`match ${text}`, () => {
    const filter = parseFilter(text);
    assert.is(
      matchesFilter(filter, (field) => readDottedField(account, field)),
      expected,
    );
  });
}

test('support accepts listed operators', () => {
  const support = { sourceId: ['eq', 'in'], name: ['eq'] } as const;
  checkFilterSupport(parseFilter('sourceId in ("a") and name eq "b"'), support);
});

test('support rejects unknown field', () => {
  const support = { sourceId: ['eq'] } as const;
  try {
    checkFilterSupport(parseFilter('sourceId eq "a" and purpose eq "b"'), support);
    assert.unreachable('an unsupported field passed');
  } catch (error) {
    assert.instance(error, UnsupportedFilterError);
    assert.is((error as UnsupportedFilterError).field, 'purpose');
  }
});

test('support rejects unlisted operator', () => {
  const support = { name: ['eq'] } as const;
  try {
    checkFilterSupport(parseFilter('not name co "a"'), support);
    assert.unreachable('an unsupported operator passed');
  } catch (error) {
    assert.instance(error, UnsupportedFilterError);
    assert.is((error as UnsupportedFilterError).operator, 'co');
  }
});

test.run();
