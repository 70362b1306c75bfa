/**
 * `plan` for a pull request that adds, changes and removes ServiceAccounts, against the ISC
 * emulator, compared exactly with the reviewed table, Markdown and JSON in test/golden/plan/.
 * The emulator's port and the ids of personal access tokens change on every run, so they are
 * replaced by placeholders. The clock that decides token rotation is pinned.
 *
 * After an intended change of the output, run with UPDATE_GOLDEN=1 and review the diff.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CommandIo } from '../../src/cli/command-io.ts';
import { runPlan } from '../../src/cli/plan.ts';
import { TenantSetup } from '../../src/controller/tenant.ts';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.ts';
import { IscApi } from '../../src/isc/api.ts';
import { IscClient } from '../../src/isc/client.ts';

const golden = fileURLToPath(new URL('../golden/plan/', import.meta.url));
const credential = { clientId: 'golden-test', clientSecret: `secret-${crypto.randomUUID()}` };
/** Pinned time: the PAT `reporting` expires within the 7-day rotation lead time. */
const now = new Date('2099-05-28T00:00:00.000Z');
let emulator: RunningEmulator;
const patIds = new Map<string, string>();

function identity(id: string, alias: string, email: string, capabilities: string[] = []) {
  return { id, alias, email, firstname: alias, lastname: alias, capabilities };
}

function account(id: string, identityId: string | undefined, attributes: Record<string, string>) {
  return { id, source: 'Service Accounts', ...(identityId ? { identityId } : {}), attributes };
}

/** Creates a PAT owned by an identity, as that identity would in ISC's UI. */
async function createPat(identityId: string, name: string, expirationDate: string) {
  const bootstrap = (await (
    await fetch(
      `${emulator.url}/__admin/identities/${identityId}/personal-access-tokens?name=${name}-bootstrap`,
      { method: 'POST' },
    )
  ).json()) as { id: string; secret: string };
  const login = await fetch(`${emulator.url}/oauth/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: bootstrap.id,
      client_secret: bootstrap.secret,
    }),
  });
  const { access_token: accessToken } = (await login.json()) as { access_token: string };
  const created = await fetch(`${emulator.url}/v2025/personal-access-tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, expirationDate }),
  });
  assert.is(created.status, 200, await created.clone().text());
  const pat = (await created.json()) as { id: string };
  patIds.set(bootstrap.id, `<pat ${name}-bootstrap>`);
  patIds.set(pat.id, `<pat ${name}>`);
}

test.before(async () => {
  emulator = await startEmulator({
    clients: [credential],
    asyncDelayMs: 10,
    fixtures: {
      identities: [
        identity('identity-audit', 'audit01', 'admin@example.com', ['HELPDESK', 'CERT_ADMIN']),
        identity('identity-ci', 'ci-deployer', 'ci@example.com', ['HELPDESK']),
        identity('identity-batch', 'legacy-batch', 'batch@example.com'),
        identity('identity-archive', 'archive', 'archive@example.com'),
      ],
      sources: [
        {
          id: 'source-service-accounts',
          name: 'Service Accounts',
          accountAttributes: ['id', 'name', 'e-mail', 'purpose', 'team'],
        },
      ],
      accounts: [
        account('isc-account-001', 'identity-audit', {
          id: 'SA-001',
          name: 'audit01',
          'e-mail': 'admin@example.com',
          purpose: 'Audit reports',
          team: 'sec',
        }),
        account('isc-account-002', 'identity-ci', {
          id: 'SA-002',
          name: 'ci-deployer',
          'e-mail': 'ci@example.com',
          purpose: 'Old purpose',
        }),
        account('isc-account-003', 'identity-batch', {
          id: 'SA-003',
          name: 'legacy-batch',
          'e-mail': 'batch@example.com',
          purpose: 'Nightly batch',
        }),
        account('isc-account-004', 'identity-archive', {
          id: 'SA-004',
          name: 'archive',
          'e-mail': 'archive@example.com',
          purpose: 'Archive reader',
        }),
        account('isc-account-legacy', undefined, {
          id: 'SA-LEGACY',
          name: 'legacy',
          'e-mail': 'legacy@example.com',
          purpose: 'Batch',
        }),
      ],
    },
  });
  const logger = pino({ level: 'silent' });
  const api = new IscApi(new IscClient({ baseUrl: emulator.url, ...credential, logger }));
  const settings = {
    sourceName: 'Service Accounts',
    identityProfileName: 'Service Accounts',
    cacheTtlMs: 0,
    identityProcessingIntervalMs: 0,
  };
  await new TenantSetup(api, settings, logger).ensure();
  await createPat('identity-audit', 'reporting', '2099-06-01T00:00:00.000Z');
  await createPat('identity-audit', 'old-feed', '2099-12-31T00:00:00.000Z');
});

test.after(async () => {
  await emulator?.close();
});

/** Replaces what changes between runs: the emulator's address, PAT ids and the folder. */
function normalize(text: string): string {
  let normalized = text.replaceAll(emulator.url, 'http://127.0.0.1:PORT').replaceAll(golden, '');
  for (const [id, placeholder] of patIds) normalized = normalized.replaceAll(id, placeholder);
  return normalized;
}

async function plan(format: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = { stdout: '', stderr: '' };
  const io: CommandIo = {
    stdout: (text) => {
      output.stdout += text;
    },
    stderr: (text) => {
      output.stderr += text;
    },
    stdin: Readable.from(['']),
    env: { ISC_CLIENT_ID: credential.clientId, ISC_CLIENT_SECRET: credential.clientSecret },
    now: () => now,
  };
  const code = await runPlan(
    [join(golden, 'head'), '--base', join(golden, 'base'), '--tenant-url', emulator.url].concat([
      '--format',
      format,
    ]),
    io,
  );
  return { code, stdout: normalize(output.stdout), stderr: output.stderr };
}

async function compareWithGolden(name: string, actual: string): Promise<void> {
  const path = join(golden, name);
  if (process.env.UPDATE_GOLDEN === '1') await writeFile(path, actual);
  assert.fixture(actual, await readFile(path, 'utf8'));
}

for (const [format, file] of [
  ['table', 'plan.txt'],
  ['markdown', 'plan.md'],
  ['json', 'plan.json'],
] as const) {
  test(`golden plan: ${format}`, async () => {
    emulator.clearCalls();
    const result = await plan(format);
    assert.is(result.code, 3, result.stderr);
    assert.is(result.stderr, '');
    await compareWithGolden(file, result.stdout);
    const writes = emulator.calls.filter(
      (call) => call.method !== 'GET' && !(call.method === 'POST' && call.path === '/oauth/token'),
    );
    assert.equal(writes, []);
  });
}

test.run();
