/**
 * Policy rules on ServiceAccount objects, the policy file's own checks, and the rules that wait
 * for CRD fields which do not exist yet.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadResourceSchemas } from '../../src/validation/crd-schema.ts';
import {
  checkPolicy,
  inactiveRules,
  loadPolicy,
  type Policy,
  PolicyError,
  parsePolicy,
} from '../../src/validation/policy.ts';

function serviceAccount(spec: Record<string, unknown>, annotations?: Record<string, string>) {
  return {
    apiVersion: 'isc.sailpoint/v1alpha1',
    kind: 'ServiceAccount',
    metadata: { name: 'audit01', namespace: 'default', ...(annotations ? { annotations } : {}) },
    spec: { email: 'svc@example.com', purpose: 'Automate the monthly audit report', ...spec },
  };
}

const policy: Policy = {
  emailDomains: ['example.com', '*.corp.example'],
  purpose: { required: true, minLength: 20 },
  namePattern: '^[a-z][a-z0-9-]+$',
  accountIdPattern: '^SA-[0-9]+$',
  forbiddenValues: [{ name: 'csv-injection', pattern: '^[=+\\-@\\t\\r]' }],
  approval: { capabilities: ['ORG_ADMIN'], annotation: 'isc.sailpoint/approved-by' },
  tokens: {
    maxAccessTokenValiditySeconds: 3600,
    maxValidForDays: 90,
    forbiddenScopes: ['sp:scopes:all'],
  },
};

const token = { name: 'reporting', secretName: 'reporting', validForDays: 30 };

// Each rule with a spec that breaks it (and it alone) and a spec that passes it.
const cases: Array<{
  name: string;
  rule: string;
  path: string;
  failing: Record<string, unknown>;
  passing: Record<string, unknown>;
}> = [
  {
    name: 'foreign domain',
    rule: 'emailDomains',
    path: 'spec.email',
    failing: { email: 'svc@evil.test' },
    passing: { email: 'svc@eu.corp.example' },
  },
  {
    name: 'missing purpose',
    rule: 'purpose.required',
    path: 'spec.purpose',
    failing: { purpose: '  ' },
    passing: { purpose: 'Automate the monthly audit report' },
  },
  {
    name: 'short purpose',
    rule: 'purpose.minLength',
    path: 'spec.purpose',
    failing: { purpose: 'Audit' },
    passing: { purpose: 'Audit reports, monthly' },
  },
  {
    name: 'name pattern',
    rule: 'namePattern',
    path: 'spec.name',
    failing: { name: 'Audit_01' },
    passing: { name: 'audit-01' },
  },
  {
    name: 'account id pattern',
    rule: 'accountIdPattern',
    path: 'spec.accountId',
    failing: { accountId: 'X-1' },
    passing: { accountId: 'SA-7' },
  },
  {
    name: 'formula in purpose',
    rule: 'forbiddenValues[csv-injection]',
    path: 'spec.purpose',
    failing: { purpose: '=HYPERLINK("http://x") and more text' },
    passing: { purpose: 'Sum =A1 in the monthly report' },
  },
  {
    name: 'formula in attribute',
    rule: 'forbiddenValues[csv-injection]',
    path: 'spec.attributes.team',
    failing: { attributes: { team: '@SUM(A1)' } },
    passing: { attributes: { team: 'ops@' } },
  },
  {
    name: 'capability without approval',
    rule: 'approval',
    path: 'spec.userLevel',
    failing: { userLevel: ['ORG_ADMIN'] },
    passing: { userLevel: ['HELPDESK'] },
  },
  {
    name: 'long access token validity',
    rule: 'tokens.maxAccessTokenValiditySeconds',
    path: 'spec.tokens.0.accessTokenValiditySeconds',
    failing: { tokens: [{ ...token, accessTokenValiditySeconds: 86400 }] },
    passing: { tokens: [{ ...token, accessTokenValiditySeconds: 3600 }] },
  },
  {
    name: 'long token lifetime',
    rule: 'tokens.maxValidForDays',
    path: 'spec.tokens.0.validForDays',
    failing: { tokens: [{ ...token, validForDays: 365 }] },
    passing: { tokens: [{ ...token, validForDays: 90 }] },
  },
  {
    name: 'token that never expires',
    rule: 'tokens.maxValidForDays',
    path: 'spec.tokens.0.validForDays',
    failing: { tokens: [{ name: 'forever', secretName: 'forever' }] },
    passing: { tokens: [{ name: 'forever', secretName: 'forever', validForDays: 1 }] },
  },
  {
    name: 'forbidden scope',
    rule: 'tokens.forbiddenScopes',
    path: 'spec.tokens.0.scopes',
    failing: { tokens: [{ ...token, scopes: ['sp:scopes:all'] }] },
    passing: { tokens: [{ ...token, scopes: ['idn:accounts:read'] }] },
  },
];

for (const { name, rule, path, failing, passing } of cases) {
  test(`policy: ${name} fails`, () => {
    const violations = checkPolicy(policy, serviceAccount(failing));
    assert.is(violations.length, 1, JSON.stringify(violations));
    assert.is(violations[0]?.rule, rule);
    assert.is(violations[0]?.path.join('.'), path);
  });

  test(`policy: ${name} passes`, () => {
    assert.equal(checkPolicy(policy, serviceAccount(passing)), []);
  });
}

test('every rule has a case', () => {
  const rules = new Set(cases.map((entry) => entry.rule.replace(/\[.*\]$/, '')));
  const declared = Object.entries(policy).flatMap(([rule, value]) =>
    rule === 'purpose' || rule === 'tokens'
      ? Object.keys(value as object).map((field) => `${rule}.${field}`)
      : [rule],
  );
  assert.equal(
    declared.filter((rule) => !rules.has(rule)),
    [],
  );
});

test('compliant resource passes', () => {
  assert.equal(
    checkPolicy(policy, serviceAccount({ email: 'svc@eu.corp.example', accountId: 'SA-7' })),
    [],
  );
});

test('approval annotation satisfies the rule', () => {
  const resource = serviceAccount(
    { userLevel: ['ORG_ADMIN'] },
    { 'isc.sailpoint/approved-by': 'jane' },
  );
  assert.equal(checkPolicy(policy, resource), []);
});

test('user level and token rules are active', async () => {
  const schemas = await loadResourceSchemas();
  const serviceAccountSchema = schemas.find((schema) => schema.kind === 'ServiceAccount')!.schema;
  assert.equal(inactiveRules(policy, serviceAccountSchema), []);
});

test('example policy file loads', async () => {
  const loaded = await loadPolicy('examples/policy.yaml');
  assert.equal(loaded.emailDomains, ['example.com']);
  assert.is(
    checkPolicy(loaded, serviceAccount({ purpose: '-rm everything from the share' }))[0]?.rule,
    'forbiddenValues[csv-injection]',
  );
});

const invalidFiles: Array<[string, string, string]> = [
  ['unknown rule', 'kind: ServiceAccountPolicy\nrules:\n  maxAge: 3\n', 'unknown field "maxAge"'],
  ['wrong kind', 'kind: Policy\nrules: {}\n', 'kind'],
  [
    'bad regular expression',
    'kind: ServiceAccountPolicy\nrules:\n  namePattern: "("\n',
    'namePattern is not a valid regular expression',
  ],
  ['bad YAML', 'kind: [\n', 'not valid YAML'],
];

for (const [name, text, message] of invalidFiles) {
  test(`policy file: ${name}`, () => {
    try {
      parsePolicy(text, 'p.yaml');
      assert.unreachable('parsePolicy accepted the file');
    } catch (error) {
      assert.instance(error, PolicyError);
      assert.ok((error as Error).message.includes(message), (error as Error).message);
    }
  });
}

test.run();
