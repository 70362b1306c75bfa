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
  tokens: { maxAccessTokenValiditySeconds: 3600, forbiddenScopes: ['sp:scopes:all'] },
};

// Each case: name, spec overrides, expected rule and path.
const cases: Array<[string, Record<string, unknown>, string, string]> = [
  ['foreign domain', { email: 'svc@evil.test' }, 'emailDomains', 'spec.email'],
  ['missing purpose', { purpose: '  ' }, 'purpose.required', 'spec.purpose'],
  ['short purpose', { purpose: 'Audit' }, 'purpose.minLength', 'spec.purpose'],
  ['name pattern', { name: 'Audit_01' }, 'namePattern', 'spec.name'],
  ['account id pattern', { accountId: 'X-1' }, 'accountIdPattern', 'spec.accountId'],
  [
    'formula in purpose',
    { purpose: '=HYPERLINK("http://x") and more text' },
    'forbiddenValues[csv-injection]',
    'spec.purpose',
  ],
  [
    'formula in attribute',
    { attributes: { team: '@SUM(A1)' } },
    'forbiddenValues[csv-injection]',
    'spec.attributes.team',
  ],
  ['capability without approval', { userLevel: ['ORG_ADMIN'] }, 'approval', 'spec.userLevel'],
  [
    'long token validity',
    { tokens: [{ accessTokenValiditySeconds: 86400 }] },
    'tokens.maxAccessTokenValiditySeconds',
    'spec.tokens.0.accessTokenValiditySeconds',
  ],
  [
    'forbidden scope',
    { tokens: [{ scopes: ['sp:scopes:all'] }] },
    'tokens.forbiddenScopes',
    'spec.tokens.0.scopes',
  ],
];

for (const [name, spec, rule, path] of cases) {
  test(`policy: ${name}`, () => {
    const violations = checkPolicy(policy, serviceAccount(spec));
    assert.is(violations.length, 1, JSON.stringify(violations));
    assert.is(violations[0]?.rule, rule);
    assert.is(violations[0]?.path.join('.'), path);
  });
}

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
