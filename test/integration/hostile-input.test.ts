/**
 * Invalid and tricky ServiceAccounts against the API server, the ISC emulator and a running
 * operator. Each invalid resource is rejected at admission with a message naming the field, or
 * accepted and then reported in status with a precise reason. Legal but unusual input
 * (formula-like text, unicode) must reach ISC exactly as written. A rejected resource must cause
 * no account create in ISC, which the emulator's task list shows.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { group, serviceAccountPlural, version } from '../../src/kube/types.ts';
import { admissionRejection, validateFindings } from '../support/admission.ts';
import {
  accountsOnSource,
  condition,
  createResource,
  createTaskIds,
  patchResource,
  type ReliabilityEnv,
  resourceBody,
  startReliabilityEnv,
  waitConverged,
  waitReason,
} from '../support/reliability-env.ts';

let env: ReliabilityEnv;
const namespaces = ['host-a', 'host-b'];

test.before(async () => {
  env = await startReliabilityEnv('hostile');
  for (const name of namespaces) {
    await env.core.createNamespace({ body: { metadata: { name } } });
  }
  env.startOperator();
});

test.after(async () => {
  await env?.stop();
});

const valid = { email: 'svc@example.com', purpose: 'Nightly export' };

/** Case name, spec, and a part of the rejection message that names the field or the rule. */
const rejectedAtCreate: Array<[string, Record<string, unknown>, string | RegExp]> = [
  ['email without domain', { ...valid, email: 'svc@' }, 'spec.email'],
  ['email with space', { ...valid, email: 'svc @example.com' }, 'spec.email'],
  ['email with two @', { ...valid, email: 'a@b@example.com' }, 'spec.email'],
  ['empty email', { ...valid, email: '' }, 'spec.email'],
  ['email of 255 characters', { ...valid, email: `${'a'.repeat(243)}@example.com` }, 'spec.email'],
  ['email as a number', { ...valid, email: 5 }, 'spec.email'],
  ['email with newline', { ...valid, email: 'svc@example.com\n' }, 'spec.email'],
  ['email with quoted comma', { ...valid, email: '"a,b"@example.com' }, 'spec.email'],
  ['email without dot in domain', { ...valid, email: 'a@localhost' }, 'spec.email'],
  ['non-ASCII email', { ...valid, email: 'ü@exämple.com' }, 'spec.email'],
  ['email with trailing space', { ...valid, email: 'a@example.com ' }, 'spec.email'],
  [
    'duplicate token names',
    {
      ...valid,
      tokens: ['a', 'b', 'a'].map((name, index) => ({ name, secretName: `pat-${index}` })),
    },
    'spec.tokens[2]: Duplicate value',
  ],
  ['formula in name', { ...valid, name: "=cmd|' /C calc'!A0" }, 'spec.name'],
  ['formula in accountId', { ...valid, accountId: '=1+1' }, 'spec.accountId'],
  ['quote in accountId', { ...valid, accountId: 'SA"1' }, 'spec.accountId'],
  ['empty accountId', { ...valid, accountId: '' }, 'spec.accountId'],
  ['accountId of 65 characters', { ...valid, accountId: 'A'.repeat(65) }, 'spec.accountId'],
  ['unicode accountId', { ...valid, accountId: 'SÄ-1' }, 'spec.accountId'],
  ['unicode name', { ...valid, name: 'bøt' }, 'spec.name'],
  ['name with leading dot', { ...valid, name: '.hidden' }, 'spec.name'],
  ['purpose with tab', { ...valid, purpose: 'a\tb' }, 'control characters'],
  ['purpose with carriage return', { ...valid, purpose: 'a\rb' }, 'control characters'],
  ['purpose with NUL', { ...valid, purpose: 'a\u0000b' }, 'control characters'],
  ['purpose with DEL', { ...valid, purpose: 'a\u007fb' }, 'control characters'],
  ['purpose with bidi isolate', { ...valid, purpose: 'a\u2066b' }, 'control characters'],
  ['huge purpose', { ...valid, purpose: 'p'.repeat(100_000) }, 'spec.purpose'],
  [
    'attribute value too long',
    { ...valid, attributes: { team: 'x'.repeat(1025) } },
    'spec.attributes.team',
  ],
  [
    '33 attributes',
    {
      ...valid,
      attributes: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`a${i}`, 'x'])),
    },
    'spec.attributes',
  ],
  ['reserved attribute id', { ...valid, attributes: { id: 'X-1' } }, 'must not set id'],
  ['attribute name with space', { ...valid, attributes: { 'a b': 'x' } }, 'attribute names'],
  ['unknown deletionPolicy', { ...valid, deletionPolicy: 'Keep' }, 'spec.deletionPolicy'],
  ['unknown managementPolicy', { ...valid, managementPolicy: 'ReadOnly' }, 'spec.managementPolicy'],
  ['adopt as a string', { ...valid, adopt: 'yes' }, 'spec.adopt'],
  ['tenantRef without name', { ...valid, tenantRef: {} }, 'spec.tenantRef.name'],
  ['tenantRef with empty name', { ...valid, tenantRef: { name: '' } }, 'spec.tenantRef.name'],
  [
    'token secretName with a path',
    { ...valid, tokens: [{ name: 'a', secretName: '../kube-system/x' }] },
    'spec.tokens[0].secretName',
  ],
  [
    'two tokens sharing a Secret',
    {
      ...valid,
      tokens: [
        { name: 'a', secretName: 'shared' },
        { name: 'b', secretName: 'shared' },
      ],
    },
    'each token needs its own secretName',
  ],
  [
    'token on the bootstrap Secret',
    {
      ...valid,
      bootstrapCredentialsSecretRef: { name: 'boot' },
      tokens: [{ name: 'a', secretName: 'boot' }],
    },
    'must differ from bootstrapCredentialsSecretRef.name',
  ],
  [
    'unknown spec field',
    { ...valid, clientSecret: 'x' },
    /unknown field \\?"spec\.clientSecret\\?"/,
  ],
];

let createsBeforeAdmission = 0;

test('admission table runs with the operator up', async () => {
  // Wait for one resource to converge, so the operator is known to watch and to reach ISC.
  await createResource(env.customObjects, 'host-a', 'canary', {
    accountId: 'HX-CANARY',
    email: 'canary@example.com',
  });
  await waitConverged(env.customObjects, 'host-a', 'canary');
  createsBeforeAdmission = createTaskIds(env.emulator).length;
});

for (const [index, [name, spec, expected]] of rejectedAtCreate.entries()) {
  test(`admission rejects ${name}`, async () => {
    const message = await admissionRejection(() =>
      createResource(env.customObjects, 'host-a', `rejected-${index}`, spec),
    );
    assert.ok(message !== undefined, 'the API server accepted an invalid resource');
    assert.match(message!, expected);
    const findings = await validateFindings(resourceBody(`rejected-${index}`, spec));
    assert.ok(findings.length > 0, 'validate found no problem');
  });
}

test('admission rejects a 129-character account name', async () => {
  // Without spec.name, metadata.name (up to 253 characters) is the account name.
  const name = 'l'.repeat(129);
  const message = await admissionRejection(() =>
    createResource(env.customObjects, 'host-a', name, valid),
  );
  assert.ok(message !== undefined, 'the API server accepted a 129-character account name');
  assert.match(message!, 'at most 128 characters');
  const findings = await validateFindings(resourceBody(name, valid));
  assert.ok(findings.length > 0, 'validate found no problem');
});

test('admission rejects an unknown top-level field', async () => {
  const message = await admissionRejection(() =>
    env.customObjects.createNamespacedCustomObject({
      group,
      version,
      namespace: 'host-a',
      plural: serviceAccountPlural,
      body: {
        apiVersion: `${group}/${version}`,
        kind: 'ServiceAccount',
        metadata: { name: 'rejected-top-level' },
        spec: valid,
        credentials: { clientSecret: 'x' },
      },
      fieldValidation: 'Strict',
    }),
  );
  assert.ok(message !== undefined, 'the API server accepted an unknown field');
  assert.match(message!, /unknown field \\?"credentials\\?"/);
});

/** Immutable fields of an accepted resource: patch, and part of the expected rejection. */
const rejectedUpdates: Array<
  [string, Array<{ op: string; path: string; value?: unknown }>, string]
> = [
  [
    'accountId change',
    [{ op: 'replace', path: '/spec/accountId', value: 'HX-OTHER' }],
    'spec.accountId is immutable',
  ],
  [
    'accountId case change',
    [{ op: 'replace', path: '/spec/accountId', value: 'hx-canary' }],
    'spec.accountId is immutable',
  ],
  ['accountId removal', [{ op: 'remove', path: '/spec/accountId' }], 'spec.accountId is immutable'],
  ['name change', [{ op: 'add', path: '/spec/name', value: 'renamed' }], 'spec.name is immutable'],
  [
    'tenantRef added',
    [{ op: 'add', path: '/spec/tenantRef', value: { name: 'other' } }],
    'spec.tenantRef is immutable',
  ],
  [
    'email made invalid',
    [{ op: 'replace', path: '/spec/email', value: 'no-at-sign' }],
    'spec.email',
  ],
];

for (const [name, operations, expected] of rejectedUpdates) {
  test(`admission rejects ${name}`, async () => {
    const message = await admissionRejection(() =>
      patchResource(env.customObjects, 'host-a', 'canary', operations),
    );
    assert.ok(message !== undefined, 'the API server accepted the change');
    assert.match(message!, expected);
  });
}

test('rejected resources send nothing to ISC', async () => {
  // Give the operator a resync period to act on anything that slipped through.
  await new Promise((resolve) => setTimeout(resolve, 4_000));
  assert.is(createTaskIds(env.emulator).length, createsBeforeAdmission, 'account creates sent');
  const canary = accountsOnSource(env.emulator).find((a) => a.nativeIdentity === 'HX-CANARY');
  assert.is(canary?.attributes['e-mail'], 'canary@example.com', 'the canary account changed');
});

// ---- accepted resources that the operator must report or store exactly ----------------------

const formula = "=cmd|' /C calc'!A0";

test('formula-like purpose lands verbatim', async () => {
  await createResource(env.customObjects, 'host-a', 'formula', {
    accountId: 'HX-FORMULA',
    email: 'formula@example.com',
    purpose: formula,
  });
  await waitConverged(env.customObjects, 'host-a', 'formula');
  const account = accountsOnSource(env.emulator).find((a) => a.nativeIdentity === 'HX-FORMULA');
  assert.ok(account, 'no account HX-FORMULA');
  // The operator writes through the JSON API, so the text is data. It must not be escaped,
  // prefixed or cut.
  assert.is(account!.attributes.purpose, formula);
});

test('unicode and invisible characters land verbatim', async () => {
  const purpose = 'Überwachung 監査 🚀 zero\u200bwidth mark\u200f';
  await createResource(env.customObjects, 'host-a', 'unicode', {
    accountId: 'HX-UNICODE',
    email: 'unicode@example.com',
    purpose,
  });
  await waitConverged(env.customObjects, 'host-a', 'unicode');
  const account = accountsOnSource(env.emulator).find((a) => a.nativeIdentity === 'HX-UNICODE');
  assert.is(account?.attributes.purpose, purpose);
});

test('purpose of exactly 1024 characters converges', async () => {
  const purpose = 'q'.repeat(1024);
  await createResource(env.customObjects, 'host-a', 'longest', {
    accountId: 'HX-LONGEST',
    email: 'longest@example.com',
    purpose,
  });
  await waitConverged(env.customObjects, 'host-a', 'longest');
  const account = accountsOnSource(env.emulator).find((a) => a.nativeIdentity === 'HX-LONGEST');
  assert.is(account?.attributes.purpose, purpose);
});

/** A resource accepted at admission that the operator must stall with `reason`. */
const reportedInStatus: Array<{
  case: string;
  namespace: string;
  name: string;
  spec: Record<string, unknown>;
  reason: string;
  message: string;
}> = [
  {
    case: 'same accountId in another namespace',
    namespace: 'host-b',
    name: 'copy-of-canary',
    spec: { accountId: 'HX-CANARY', email: 'copy@example.com' },
    reason: 'DuplicateAccountId',
    message: 'host-a/canary already claims account id "HX-CANARY"',
  },
  {
    case: 'accountId differing only in case',
    namespace: 'host-b',
    name: 'lower-canary',
    spec: { accountId: 'hx-canary', email: 'lower@example.com' },
    reason: 'DuplicateAccountId',
    message: 'account id "HX-CANARY"',
  },
  {
    case: 'same metadata.name in another namespace',
    namespace: 'host-b',
    name: 'canary',
    spec: { accountId: 'HX-NAME-TWIN', email: 'twin@example.com' },
    reason: 'DuplicateAccountId',
    message: 'account name "canary"',
  },
  {
    case: 'spec.name differing only in case',
    namespace: 'host-b',
    name: 'upper-name',
    spec: { accountId: 'HX-UPPER', name: 'Canary', email: 'upper@example.com' },
    reason: 'DuplicateAccountId',
    message: 'account name "canary"',
  },
  {
    case: 'attribute missing from the schema',
    namespace: 'host-b',
    name: 'unknown-attribute',
    spec: { accountId: 'HX-ATTRIBUTE', email: 'attr@example.com', attributes: { team: 'x' } },
    reason: 'InvalidSpec',
    message: 'spec.attributes names team',
  },
  {
    case: 'reserved attribute in other case',
    namespace: 'host-b',
    name: 'upper-id-attribute',
    spec: { accountId: 'HX-UPPER-ID', email: 'upperid@example.com', attributes: { ID: 'X-9' } },
    reason: 'InvalidSpec',
    message: 'spec.attributes names ID',
  },
  {
    case: 'ObserveOnly without accountId',
    namespace: 'host-b',
    name: 'observe-nothing',
    spec: { email: 'observe@example.com', managementPolicy: 'ObserveOnly' },
    reason: 'InvalidSpec',
    message: 'needs spec.accountId',
  },
  {
    case: 'unknown tenantRef',
    namespace: 'host-b',
    name: 'wrong-tenant',
    spec: { accountId: 'HX-TENANT', email: 'tenant@example.com', tenantRef: { name: 'nowhere' } },
    reason: 'TenantNotFound',
    message: 'nowhere',
  },
];

for (const entry of reportedInStatus) {
  test(`status reports ${entry.case}`, async () => {
    await createResource(env.customObjects, entry.namespace, entry.name, entry.spec);
    const resource = await waitReason(env.customObjects, entry.namespace, entry.name, entry.reason);
    const ready = condition(resource, 'Ready')!;
    assert.is(ready.status, 'False');
    assert.match(ready.message, entry.message);
    if (entry.reason !== 'TenantNotFound') {
      assert.is(condition(resource, 'Stalled')?.status, 'True', 'Stalled condition');
    }
  });
}

test('status-rejected resources create nothing', async () => {
  await new Promise((resolve) => setTimeout(resolve, 4_000));
  const created = createTaskIds(env.emulator);
  for (const entry of reportedInStatus) {
    const accountId = String(entry.spec.accountId ?? '');
    if (accountId.toUpperCase() === 'HX-CANARY') continue;
    assert.not.ok(created.includes(accountId), `an account create was sent for ${entry.name}`);
  }
  assert.is(
    created.filter((id) => id.toUpperCase() === 'HX-CANARY').length,
    1,
    'creates of HX-CANARY',
  );
  const canary = accountsOnSource(env.emulator).find((a) => a.nativeIdentity === 'HX-CANARY');
  assert.is(canary?.attributes['e-mail'], 'canary@example.com', 'a rival changed the account');
});

test('contract holds for every emulator response', () => {
  assert.equal(env.emulator.contractViolations, []);
});

test.run();
