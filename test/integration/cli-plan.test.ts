/**
 * `plan` against the ISC emulator over real HTTP: each account action, tenant drift, the three
 * output formats, exit codes, and that nothing but GET requests and the token request is sent.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CommandIo } from '../../src/cli/command-io.ts';
import { runPlan } from '../../src/cli/plan.ts';
import { TenantSetup } from '../../src/controller/tenant.ts';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.ts';
import { IscApi } from '../../src/isc/api.ts';
import { IscClient } from '../../src/isc/client.ts';

const credential = { clientId: 'plan-test', clientSecret: `secret-${crypto.randomUUID()}` };
let emulator: RunningEmulator;
let folder: string;

test.before(async () => {
  emulator = await startEmulator({
    clients: [credential],
    asyncDelayMs: 10,
    fixtures: {
      identities: [
        {
          id: 'identity-audit',
          alias: 'audit01',
          email: 'admin@example.com',
          firstname: 'audit01',
          lastname: 'audit01',
        },
        {
          id: 'identity-ci',
          alias: 'ci-deployer',
          email: 'ci@example.com',
          firstname: 'ci',
          lastname: 'ci',
        },
      ],
      sources: [
        {
          name: 'Service Accounts',
          accountAttributes: ['id', 'name', 'e-mail', 'purpose', 'team'],
        },
        { name: 'Drifted', accountAttributes: ['id', 'name', 'e-mail'] },
      ],
      accounts: [
        {
          source: 'Service Accounts',
          identityId: 'identity-audit',
          attributes: {
            id: 'SA-001',
            name: 'audit01',
            'e-mail': 'admin@example.com',
            purpose: 'Audit reports',
            team: 'sec',
          },
        },
        {
          source: 'Service Accounts',
          identityId: 'identity-ci',
          attributes: {
            id: 'SA-002',
            name: 'ci-deployer',
            'e-mail': 'ci@example.com',
            purpose: 'Old purpose',
          },
        },
        {
          source: 'Service Accounts',
          attributes: {
            id: 'SA-LEGACY',
            name: 'legacy',
            'e-mail': 'legacy@example.com',
            purpose: 'Batch',
          },
        },
      ],
    },
  });
  // The operator's own tenant setup creates the identity profile with its mappings.
  const api = new IscApi(
    new IscClient({ baseUrl: emulator.url, ...credential, logger: pino({ level: 'silent' }) }),
  );
  const settings = {
    sourceName: 'Service Accounts',
    identityProfileName: 'Service Accounts',
    cacheTtlMs: 0,
    identityProcessingIntervalMs: 0,
  };
  await new TenantSetup(api, settings, pino({ level: 'silent' })).ensure();
  folder = await mkdtemp(join(tmpdir(), 'cli-plan-'));
});

test.after(async () => {
  await emulator?.close();
  if (folder) await rm(folder, { recursive: true, force: true });
});

function serviceAccount(name: string, spec: string): string {
  return `apiVersion: isc.sailpoint/v1alpha1
kind: ServiceAccount
metadata:
  name: ${name}
  namespace: default
spec:
${spec}`;
}

const audit01 = serviceAccount(
  'audit01',
  '  accountId: SA-001\n  email: admin@example.com\n  purpose: Audit reports\n  adopt: true\n  attributes:\n    team: sec\n',
);
const ciDeployer = serviceAccount(
  'ci-deployer',
  '  accountId: SA-002\n  email: ci@example.com\n  purpose: Deploy from CI\n',
);
const newBot = serviceAccount(
  'new-bot',
  '  accountId: SA-NEW\n  email: bot@example.com\n  purpose: New bot\n',
);
const observer = serviceAccount(
  'observer',
  '  accountId: SA-LEGACY\n  name: legacy\n  email: legacy@example.com\n  purpose: Batch job\n  managementPolicy: ObserveOnly\n',
);

async function writeManifest(name: string, text: string): Promise<string> {
  const path = join(folder, name);
  await writeFile(path, text);
  return path;
}

async function plan(
  args: string[],
  env: Record<string, string> = {
    ISC_CLIENT_ID: credential.clientId,
    ISC_CLIENT_SECRET: credential.clientSecret,
  },
  progress?: CommandIo['progress'],
) {
  let stdout = '';
  let stderr = '';
  const io: CommandIo = {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    stdin: Readable.from(['']),
    env,
    progress,
  };
  const code = await runPlan(args, io);
  return { code, stdout, stderr };
}

interface JsonPlan {
  changes: boolean;
  summary: Record<string, number>;
  tenantChanges: Array<{ object: string; action: string; detail: string }>;
  accounts: Array<{
    resource: string;
    action: string;
    changes: Array<{ attribute: string; from?: string; to: string }>;
    notes: string[];
  }>;
  unmanaged: Array<{ accountId: string }>;
  problems: string[];
  policyViolations: Array<{ rule: string }>;
}

function readOnlyViolations(): string[] {
  return emulator.calls
    .filter(
      (call) => call.method !== 'GET' && !(call.method === 'POST' && call.path === '/oauth/token'),
    )
    .map((call) => `${call.method} ${call.path}`);
}

test('plan lists each account action', async () => {
  const path = await writeManifest(
    'mixed.yaml',
    [audit01, ciDeployer, newBot, observer].join('---\n'),
  );
  emulator.clearCalls();
  const result = await plan([
    path,
    '--tenant-url',
    emulator.url,
    '--credentials-env',
    '--format',
    'json',
  ]);
  assert.is(result.code, 3, result.stderr);
  const json = JSON.parse(result.stdout) as JsonPlan;
  const action = (name: string) =>
    json.accounts.find((entry) => entry.resource === `default/${name}`);

  assert.is(action('audit01')?.action, 'adopt');
  assert.equal(action('audit01')?.changes, []);
  assert.is(action('ci-deployer')?.action, 'update');
  assert.equal(action('ci-deployer')?.changes, [
    { attribute: 'purpose', from: 'Old purpose', to: 'Deploy from CI' },
  ]);
  assert.ok(action('ci-deployer')?.notes.some((note) => note.includes('AccountNotOwned')));
  assert.is(action('new-bot')?.action, 'create');
  assert.ok(
    action('new-bot')?.changes.some(
      (change) => change.attribute === 'e-mail' && change.to === 'bot@example.com',
    ),
  );
  assert.is(action('observer')?.action, 'observe');
  assert.equal(action('observer')?.changes, [
    { attribute: 'purpose', from: 'Batch', to: 'Batch job' },
  ]);
  assert.equal(json.unmanaged, []);
  assert.equal(
    json.tenantChanges.map((change) => change.object),
    ['identities'],
  );
  assert.is(json.changes, true);
  assert.equal(readOnlyViolations(), []);
  assert.ok(emulator.calls.some((call) => call.path === '/oauth/token'));
});

test('plan reports unmanaged accounts', async () => {
  const path = await writeManifest('one.yaml', audit01);
  const result = await plan([path, '--tenant-url', emulator.url, '--format', 'json']);
  const json = JSON.parse(result.stdout) as JsonPlan;
  assert.equal(json.unmanaged.map((account) => account.accountId).sort(), ['SA-002', 'SA-LEGACY']);
  assert.is(json.changes, false);
  assert.is(result.code, 0, result.stderr);
});

test('plan without changes exits 0', async () => {
  const path = await writeManifest('unchanged.yaml', audit01);
  emulator.clearCalls();
  const result = await plan([path, '--tenant-url', emulator.url]);
  assert.is(result.code, 0, result.stderr);
  assert.ok(result.stdout.includes('Plan: 1 adopt, 2 unmanaged.'), result.stdout);
  assert.equal(readOnlyViolations(), []);
});

test('plan table output', async () => {
  const path = await writeManifest('table.yaml', [ciDeployer, newBot].join('---\n'));
  const result = await plan([path, '--tenant-url', emulator.url, '--format', 'table']);
  assert.is(result.code, 3);
  assert.match(result.stdout, /default\/new-bot\s+create\s+SA-NEW\s+new-bot/);
  assert.ok(result.stdout.includes('purpose: "Old purpose" → "Deploy from CI"'), result.stdout);
  assert.ok(result.stdout.includes('Plan: 1 create, 1 update, 2 unmanaged.'));
});

test('plan markdown output', async () => {
  const hostile = serviceAccount(
    'markup',
    '  accountId: SA-MD\n  email: md@example.com\n  purpose: "<img src=x> | *bold*"\n',
  );
  const path = await writeManifest('markdown.yaml', hostile);
  const result = await plan([path, '--tenant-url', emulator.url, '--format', 'markdown']);
  assert.is(result.code, 3);
  assert.ok(result.stdout.startsWith('### isc-sa-operator plan for tenant `default`'));
  assert.ok(
    result.stdout.includes('| default/markup | **create** | SA\\-MD |') ||
      result.stdout.includes('| default/markup | **create** | SA-MD |'),
    result.stdout,
  );
  assert.not.ok(result.stdout.includes('<img'));
  assert.ok(result.stdout.includes('&lt;img src=x&gt; \\| \\*bold\\*'));
});

test('plan shows schema and profile drift', async () => {
  const path = await writeManifest('drift.yaml', newBot);
  emulator.clearCalls();
  const result = await plan([
    path,
    '--tenant-url',
    emulator.url,
    '--source-name',
    'Drifted',
    '--identity-profile-name',
    'Missing',
    '--format',
    'json',
  ]);
  const json = JSON.parse(result.stdout) as JsonPlan;
  const schema = json.tenantChanges.find((change) => change.object === 'account schema');
  assert.ok(
    schema?.detail.includes('id, name, e-mail → id, name, e-mail, purpose'),
    schema?.detail,
  );
  const profile = json.tenantChanges.find((change) => change.object === 'identity profile');
  assert.is(profile?.action, 'create');
  assert.is(result.code, 3);
  assert.equal(readOnlyViolations(), []);
});

test('plan blocks unknown attributes', async () => {
  const path = await writeManifest(
    'unknown.yaml',
    serviceAccount(
      'odd',
      '  accountId: SA-ODD\n  email: o@example.com\n  attributes:\n    costCenter: x\n',
    ),
  );
  const result = await plan([path, '--tenant-url', emulator.url, '--format', 'json']);
  const json = JSON.parse(result.stdout) as JsonPlan;
  assert.is(json.accounts[0]?.action, 'blocked');
  assert.ok(json.problems[0]?.includes('costCenter'));
  assert.is(result.code, 1);
});

test('plan reads a tenant file', async () => {
  const tenantFile = await writeManifest(
    'tenant.yaml',
    `apiVersion: isc.sailpoint/v1alpha1
kind: Tenant
metadata:
  name: emulated
spec:
  baseUrl: ${emulator.url}
  credentialsSecretRef: { namespace: isc-system, name: isc-credentials }
`,
  );
  const other = serviceAccount(
    'elsewhere',
    '  tenantRef: { name: production }\n  email: e@example.com\n',
  );
  const path = await writeManifest('tenant-file.yaml', [audit01, other].join('---\n'));
  const result = await plan([path, '--tenant-file', tenantFile, '--format', 'json']);
  const json = JSON.parse(result.stdout) as JsonPlan & { otherTenants: string[] };
  assert.is(result.code, 0, result.stderr);
  assert.equal(json.otherTenants, ['default/elsewhere (tenant production)']);
  assert.is(json.accounts.length, 1);
});

test('plan scopes duplicate ids by tenant', async () => {
  const tenantFile = await writeManifest(
    'tenant-scope.yaml',
    `apiVersion: isc.sailpoint/v1alpha1
kind: Tenant
metadata:
  name: emulated
spec:
  baseUrl: ${emulator.url}
  credentialsSecretRef: { namespace: isc-system, name: isc-credentials }
`,
  );
  const elsewhere = serviceAccount(
    'elsewhere',
    '  tenantRef: { name: production }\n  accountId: SA-001\n  email: e@example.com\n',
  );
  const apart = await writeManifest('scope-apart.yaml', [audit01, elsewhere].join('---\n'));
  const planned = await plan([apart, '--tenant-file', tenantFile, '--format', 'json']);
  assert.is(planned.code, 0, planned.stderr);
  const json = JSON.parse(planned.stdout) as JsonPlan & { otherTenants: string[] };
  assert.equal(json.otherTenants, ['default/elsewhere (tenant production)']);

  // audit01 names no Tenant, so the plan puts it in "emulated", beside this one.
  const explicit = serviceAccount(
    'explicit',
    '  tenantRef: { name: emulated }\n  accountId: sa-001\n  email: x@example.com\n',
  );
  const together = await writeManifest('scope-together.yaml', [audit01, explicit].join('---\n'));
  const rejected = await plan([together, '--tenant-file', tenantFile, '--format', 'json']);
  assert.is(rejected.code, 1);
  assert.match(rejected.stderr, 'also claimed by ServiceAccount default/audit01');
  assert.match(rejected.stderr, 'Tenant "emulated"');
});

test('plan applies the policy', async () => {
  const policy = await writeManifest(
    'policy.yaml',
    'kind: ServiceAccountPolicy\nrules:\n  emailDomains: [corp.example]\n',
  );
  const path = await writeManifest('policy-target.yaml', audit01);
  const result = await plan([
    path,
    '--tenant-url',
    emulator.url,
    '--policy',
    policy,
    '--format',
    'json',
  ]);
  const json = JSON.parse(result.stdout) as JsonPlan;
  assert.equal(
    json.policyViolations.map((violation) => violation.rule),
    ['emailDomains'],
  );
  assert.is(result.code, 1);
});

test('plan writes --output file', async () => {
  const path = await writeManifest('output.yaml', [ciDeployer, newBot].join('---\n'));
  const file = join(folder, 'plan.md');
  const result = await plan([
    path,
    '--tenant-url',
    emulator.url,
    '--format',
    'markdown',
    '--output',
    file,
  ]);
  assert.is(result.code, 3, result.stderr);
  assert.is(result.stdout, '');
  assert.ok((await readFile(file, 'utf8')).startsWith('### isc-sa-operator plan'));
});

test('plan progress only on a TTY', async () => {
  const path = await writeManifest('progress.yaml', audit01);
  for (const isTTY of [true, false]) {
    const writes: string[] = [];
    const stream = { isTTY, write: (text: string) => writes.push(text) };
    const result = await plan([path, '--tenant-url', emulator.url], undefined, stream);
    assert.is(result.code, 0, result.stderr);
    assert.is(result.stderr, '');
    if (isTTY) assert.ok(writes.includes('\rreading accounts 3/3\u001b[K'), JSON.stringify(writes));
    else assert.equal(writes, []);
  }
});

test('plan blocks user levels the tenant rejects', async () => {
  const admin = serviceAccount(
    'admin-bot',
    '  accountId: SA-001\n  email: admin@example.com\n  purpose: Audit reports\n  adopt: true\n  attributes:\n    team: sec\n  userLevel: [ORG_ADMIN]\n',
  );
  const path = await writeManifest('org-admin.yaml', admin);
  const rejected = await plan([path, '--tenant-url', emulator.url, '--format', 'json']);
  const json = JSON.parse(rejected.stdout) as JsonPlan;
  assert.is(json.accounts[0]?.action, 'blocked');
  assert.ok(json.problems[0]?.includes('ORG_ADMIN'), json.problems[0]);
  assert.is(rejected.code, 1);

  const tenantFile = await writeManifest(
    'tenant-org-admin.yaml',
    `apiVersion: isc.sailpoint/v1alpha1
kind: Tenant
metadata:
  name: default
spec:
  baseUrl: ${emulator.url}
  credentialsSecretRef: { namespace: isc-system, name: isc-credentials }
  policy: { allowedUserLevels: [ORG_ADMIN] }
`,
  );
  const allowed = await plan([path, '--tenant-file', tenantFile, '--format', 'json']);
  const allowedJson = JSON.parse(allowed.stdout) as JsonPlan & {
    accounts: Array<{ userLevels?: { add: string[] } }>;
  };
  assert.is(allowedJson.accounts[0]?.action, 'adopt');
  assert.equal(allowedJson.accounts[0]?.userLevels?.add, ['ORG_ADMIN']);
  assert.is(allowed.code, 3, allowed.stderr);
});

test('plan exit codes for errors', async () => {
  const path = await writeManifest('errors.yaml', audit01);
  const invalid = await writeManifest('invalid.yaml', serviceAccount('bad', '  email: nope\n'));
  assert.is((await plan([invalid, '--tenant-url', emulator.url])).code, 1);
  assert.is((await plan([path, '--tenant-url', emulator.url], {})).code, 2);
  assert.is((await plan([path])).code, 2);
  assert.is((await plan([path, '--tenant-url', 'http://example.com'])).code, 2);
  const rejected = await plan([path, '--tenant-url', emulator.url], {
    ISC_CLIENT_ID: credential.clientId,
    ISC_CLIENT_SECRET: 'wrong',
  });
  assert.is(rejected.code, 1);
  assert.ok(rejected.stderr.includes('reading the tenant failed'), rejected.stderr);
  assert.not.ok(rejected.stderr.includes('wrong'));
});

test.run();
