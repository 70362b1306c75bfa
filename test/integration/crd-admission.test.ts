import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type LocalCluster, startLocalCluster } from '../../src/envtest/index.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { installCrds } from '../../src/kube/crds.ts';
import { group, serviceAccountPlural, version } from '../../src/kube/types.ts';
import { admissionRejection, validateFindings } from '../support/admission.ts';
import { baseUrlCases, emailCases } from '../support/admission-cases.ts';

let cluster: LocalCluster;
let kubeConfig: KubeConfig;
let api: CustomObjectsApi;

test.before(async () => {
  cluster = await startLocalCluster({ controllerManager: false });
  kubeConfig = loadKubeConfig(cluster.kubeconfigPath);
  await installCrds(kubeConfig);
  api = kubeConfig.makeApiClient(CustomObjectsApi);
});

test.after(async () => {
  await cluster?.stop();
});

function resource(name: string, spec: Record<string, unknown>) {
  return {
    apiVersion: `${group}/${version}`,
    kind: 'ServiceAccount',
    metadata: { name, namespace: 'default' },
    spec,
  };
}

async function create(body: unknown) {
  return api.createNamespacedCustomObject({
    group,
    version,
    namespace: 'default',
    plural: serviceAccountPlural,
    body,
    // kubectl's default: unknown fields are errors instead of being pruned silently.
    fieldValidation: 'Strict',
  });
}

const valid = { email: 'svc@example.com', purpose: 'Nightly export' };

const invalidCases: Array<[string, Record<string, unknown>, string]> = [
  ['missing email', { purpose: 'x' }, 'spec.email: Required value'],
  ['malformed email', { ...valid, email: 'not-an-email' }, 'spec.email'],
  ['empty name', { ...valid, name: '' }, 'spec.name'],
  ['name with spaces', { ...valid, name: 'two words' }, 'spec.name'],
  ['name too long', { ...valid, name: 'a'.repeat(129) }, 'spec.name'],
  ['account id with comma', { ...valid, accountId: 'SA,1' }, 'spec.accountId'],
  ['purpose with newline', { ...valid, purpose: 'line\nbreak' }, 'control characters'],
  ['purpose with C1 control', { ...valid, purpose: 'next\u0085line' }, 'control characters'],
  ['purpose with line separator', { ...valid, purpose: 'a\u2028b' }, 'control characters'],
  ['purpose with bidi override', { ...valid, purpose: 'abc\u202edef' }, 'control characters'],
  ['purpose too long', { ...valid, purpose: 'p'.repeat(1025) }, 'spec.purpose'],
  [
    'reserved attribute',
    { ...valid, attributes: { 'e-mail': 'x@example.com' } },
    'must not set id',
  ],
  ['bad attribute name', { ...valid, attributes: { '1st': 'x' } }, 'attribute names must start'],
  ['non-string attribute', { ...valid, attributes: { team: 5 } }, 'spec.attributes.team'],
  ['unknown field', { ...valid, owner: 'x' }, 'unknown field'],
  [
    'two tokens writing one Secret',
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
    'token writing the bootstrap Secret',
    {
      ...valid,
      bootstrapCredentialsSecretRef: { name: 'boot' },
      tokens: [{ name: 'a', secretName: 'boot' }],
    },
    'spec.tokens: Invalid value',
  ],
];

for (const [name, spec, expected] of invalidCases) {
  test(`admission rejects ${name}`, async () => {
    const body = resource(`bad-${invalidCases.findIndex((c) => c[0] === name)}`, spec);
    const message = await admissionRejection(() => create(body));
    assert.ok(message !== undefined, 'the API server accepted an invalid resource');
    assert.match(message!, expected);
    assert.ok((await validateFindings(body)).length > 0, 'validate found no problem');
  });
}

/**
 * Creates `body` and checks that the API server and `validate` both reach the expected
 * verdict. Returns the rejection message, if any.
 */
async function assertVerdicts(
  body: { metadata: { name: string } },
  accepted: boolean,
  createBody: (body: unknown) => Promise<unknown>,
): Promise<string | undefined> {
  const message = await admissionRejection(() => createBody(body));
  const findings = await validateFindings(body);
  assert.is(message === undefined, accepted, `API server verdict: ${message ?? 'accepted'}`);
  assert.is(findings.length === 0, accepted, `validate verdict: ${JSON.stringify(findings)}`);
  return message;
}

for (const [index, [email, accepted]] of emailCases.entries()) {
  test(`email ${JSON.stringify(email)}: admission and validate agree`, async () => {
    const body = resource(`email-${index}`, { ...valid, email });
    const message = await assertVerdicts(body, accepted, create);
    if (!accepted) assert.match(message!, 'spec.email');
  });
}

const createTenant = (body: unknown) =>
  api.createClusterCustomObject({ group, version, plural: 'tenants', body });

for (const [index, [baseUrl, accepted]] of baseUrlCases.entries()) {
  test(`baseUrl ${baseUrl}: admission and validate agree`, async () => {
    const body = {
      apiVersion: `${group}/${version}`,
      kind: 'Tenant',
      metadata: { name: `url-${index}` },
      spec: { baseUrl, credentialsSecretRef: { namespace: 'isc-system', name: 'creds' } },
    };
    const message = await assertVerdicts(body, accepted, createTenant);
    if (!accepted) assert.match(message!, 'spec.baseUrl');
  });
}

/** Account names: metadata.name is the account name unless spec.name is set. */
const accountNameCases: Array<[string, string, Record<string, unknown>, boolean]> = [
  ['129-character metadata.name', 'm'.repeat(129), valid, false],
  ['253-character metadata.name', `${'m'.repeat(126)}.${'m'.repeat(126)}`, valid, false],
  ['128-character metadata.name', 'n'.repeat(128), valid, true],
  ['long metadata.name with spec.name', 'o'.repeat(200), { ...valid, name: 'short' }, true],
];

for (const [name, metadataName, spec, accepted] of accountNameCases) {
  test(`${name}: admission and validate agree`, async () => {
    const message = await assertVerdicts(resource(metadataName, spec), accepted, create);
    if (!accepted) assert.match(message!, 'at most 128 characters');
  });
}

test('duplicate token names: admission and validate agree', async () => {
  const tokens = ['a', 'b', 'a'].map((name, index) => ({ name, secretName: `pat-${index}` }));
  const body = resource('twin-tokens', { ...valid, tokens });
  const message = await assertVerdicts(body, false, create);
  assert.match(message!, 'spec.tokens[2]: Duplicate value: {\\"name\\":\\"a\\"}');
  const findings = await validateFindings(body);
  const duplicate = findings.find((finding) => finding.path === 'spec.tokens[2]');
  assert.is(duplicate?.message, 'Duplicate value: {"name":"a"}');
});

test('admission accepts the guide example', async () => {
  const message = await admissionRejection(() =>
    create(
      resource('audit01', {
        accountId: 'SA-001',
        email: 'admin@example.com',
        purpose: 'Automate monthly audit report',
      }),
    ),
  );
  assert.is(message, undefined);
});

test('admission accepts distinct token Secrets', async () => {
  const message = await admissionRejection(() =>
    create(
      resource('two-tokens', {
        ...valid,
        bootstrapCredentialsSecretRef: { name: 'boot' },
        tokens: [
          { name: 'a', secretName: 'one' },
          { name: 'b', secretName: 'two' },
        ],
      }),
    ),
  );
  assert.is(message, undefined);
});

test('bootstrap Secret rule names the fix', async () => {
  const message = await admissionRejection(() =>
    create(
      resource('token-on-bootstrap', {
        ...valid,
        bootstrapCredentialsSecretRef: { name: 'boot' },
        tokens: [{ name: 'a', secretName: 'boot' }],
      }),
    ),
  );
  assert.match(message ?? '', 'must differ from bootstrapCredentialsSecretRef.name');
  assert.match(message ?? '', 'choose another secretName');
});

test('accountId is immutable once set', async () => {
  const message = await admissionRejection(() =>
    api.patchNamespacedCustomObject({
      group,
      version,
      namespace: 'default',
      plural: serviceAccountPlural,
      name: 'audit01',
      body: [{ op: 'replace', path: '/spec/accountId', value: 'SA-999' }],
    }),
  );
  assert.ok(message !== undefined, 'changing spec.accountId was accepted');
  assert.match(message!, 'spec.accountId is immutable once set');
});

test('name is immutable, including its default', async () => {
  const message = await admissionRejection(() =>
    api.patchNamespacedCustomObject({
      group,
      version,
      namespace: 'default',
      plural: serviceAccountPlural,
      name: 'audit01',
      body: [{ op: 'add', path: '/spec/name', value: 'renamed' }],
    }),
  );
  assert.ok(message !== undefined, 'renaming the account was accepted');
  assert.match(message!, 'spec.name is immutable');
});

test('setting name equal to its default is allowed', async () => {
  const message = await admissionRejection(() =>
    api.patchNamespacedCustomObject({
      group,
      version,
      namespace: 'default',
      plural: serviceAccountPlural,
      name: 'audit01',
      body: [{ op: 'add', path: '/spec/name', value: 'audit01' }],
    }),
  );
  assert.is(message, undefined);
});

test('tenantRef is immutable', async () => {
  await create(resource('pinned', { ...valid, tenantRef: { name: 'sandbox' } }));
  const message = await admissionRejection(() =>
    api.patchNamespacedCustomObject({
      group,
      version,
      namespace: 'default',
      plural: serviceAccountPlural,
      name: 'pinned',
      body: [{ op: 'replace', path: '/spec/tenantRef/name', value: 'production' }],
    }),
  );
  assert.ok(message !== undefined, 'moving the account to another tenant was accepted');
  assert.match(message!, 'spec.tenantRef is immutable');
});

test('name rule points at spec.name', async () => {
  const message = await admissionRejection(() =>
    api.patchNamespacedCustomObject({
      group,
      version,
      namespace: 'default',
      plural: serviceAccountPlural,
      name: 'pinned',
      body: [{ op: 'add', path: '/spec/name', value: 'renamed' }],
    }),
  );
  assert.match(message ?? '', 'spec.name: Invalid value');
});

test('tenant needs a credentials Secret reference', async () => {
  const message = await admissionRejection(() =>
    api.createClusterCustomObject({
      group,
      version,
      plural: 'tenants',
      body: {
        apiVersion: `${group}/${version}`,
        kind: 'Tenant',
        metadata: { name: 'incomplete' },
        spec: { baseUrl: 'https://acme.api.identitynow.com' },
      },
    }),
  );
  assert.match(message ?? '', 'spec.credentialsSecretRef: Required value');
});

test('tenant base URL must be http(s)', async () => {
  const message = await admissionRejection(() =>
    api.createClusterCustomObject({
      group,
      version,
      plural: 'tenants',
      body: {
        apiVersion: `${group}/${version}`,
        kind: 'Tenant',
        metadata: { name: 'bad-url' },
        spec: {
          baseUrl: 'ftp://acme',
          credentialsSecretRef: { namespace: 'isc-system', name: 'creds' },
        },
      },
    }),
  );
  assert.match(message ?? '', 'spec.baseUrl');
});

test('generated accountId may be set once', async () => {
  await create(resource('no-id', valid));
  const message = await admissionRejection(() =>
    api.patchNamespacedCustomObject({
      group,
      version,
      namespace: 'default',
      plural: serviceAccountPlural,
      name: 'no-id',
      body: [{ op: 'add', path: '/spec/accountId', value: 'sa-0123456789ab' }],
    }),
  );
  assert.is(message, undefined);
});

test.run();
