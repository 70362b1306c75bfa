/**
 * `export` against the ISC emulator, and the round trip: exported manifests pass `validate`,
 * and `plan` shows no change for the adopted accounts, their user levels and tokens.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseAllDocuments } from 'yaml';
import type { CommandIo } from '../../src/cli/command-io.ts';
import { runExport } from '../../src/cli/export.ts';
import { runPlan } from '../../src/cli/plan.ts';
import { runValidate } from '../../src/cli/validate.ts';
import { TenantSetup } from '../../src/controller/tenant.ts';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.ts';
import { IscApi } from '../../src/isc/api.ts';
import { IscClient } from '../../src/isc/client.ts';

const credential = { clientId: 'export-test', clientSecret: `secret-${crypto.randomUUID()}` };
const env = { ISC_CLIENT_ID: credential.clientId, ISC_CLIENT_SECRET: credential.clientSecret };
let emulator: RunningEmulator;
let folder: string;

test.before(async () => {
  emulator = await startEmulator({
    clients: [credential],
    asyncDelayMs: 10,
    fixtures: {
      identities: [
        {
          id: 'identity-1',
          alias: 'Backup_Job',
          email: 'backup@example.com',
          firstname: 'b',
          lastname: 'b',
          capabilities: ['HELPDESK', 'ORG_ADMIN'],
        },
        {
          id: 'identity-2',
          alias: 'report',
          email: 'report@example.com',
          firstname: 'r',
          lastname: 'r',
        },
      ],
      sources: [
        {
          name: 'Service Accounts',
          accountAttributes: ['id', 'name', 'e-mail', 'purpose', 'team'],
        },
        { name: 'No Mail', accountAttributes: ['id', 'name', 'e-mail', 'purpose'] },
      ],
      accounts: [
        {
          source: 'Service Accounts',
          identityId: 'identity-1',
          attributes: {
            id: 'SA-100',
            name: 'Backup_Job',
            'e-mail': 'backup@example.com',
            purpose: 'Nightly backup',
            team: 'ops',
          },
        },
        {
          source: 'Service Accounts',
          identityId: 'identity-2',
          attributes: { id: 'SA-101', name: 'report', 'e-mail': 'report@example.com', purpose: '' },
        },
        {
          source: 'No Mail',
          identityId: 'identity-2',
          attributes: { id: 'SA-200', name: 'mailless', 'e-mail': '', purpose: '' },
        },
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
  // A person created this token for the backup identity; export lists it but never adopts it.
  const created = await fetch(
    `${emulator.url}/__admin/identities/identity-1/personal-access-tokens?name=nightly`,
    { method: 'POST' },
  );
  assert.is(created.status, 201);
  folder = await mkdtemp(join(tmpdir(), 'cli-export-'));
});

test.after(async () => {
  await emulator?.close();
  if (folder) await rm(folder, { recursive: true, force: true });
});

function capture() {
  const output = { stdout: '', stderr: '' };
  const io: CommandIo = {
    stdout: (text) => {
      output.stdout += text;
    },
    stderr: (text) => {
      output.stderr += text;
    },
    stdin: Readable.from(['']),
    env,
  };
  return { io, output };
}

test('export writes adoptable manifests', async () => {
  emulator.clearCalls();
  const { io, output } = capture();
  assert.is(
    await runExport(['--tenant-url', emulator.url, '--namespace', 'isc'], io),
    0,
    output.stderr,
  );
  const documents = parseAllDocuments(output.stdout).map((document) => document.toJS());
  assert.is(documents.length, 2);
  const backup = documents.find((document) => document.spec.accountId === 'SA-100');
  assert.equal(backup.metadata, { name: 'backup-job', namespace: 'isc' });
  assert.equal(backup.spec, {
    accountId: 'SA-100',
    name: 'Backup_Job',
    email: 'backup@example.com',
    purpose: 'Nightly backup',
    attributes: { team: 'ops' },
    userLevel: ['HELPDESK'],
    adopt: true,
    invite: false,
  });
  assert.ok(output.stdout.includes('identity identity-1 (Backup_Job)'));
  assert.ok(output.stdout.includes('User levels ORG_ADMIN are set in ISC but not allowed'));
  assert.match(output.stdout, /# - nightly: scopes sp:scopes:all; never expires; never used/);
  assert.not.ok(output.stdout.includes('secret'));
  assert.ok(
    emulator.calls.some((call) => call.path === '/v2025/personal-access-tokens'),
    'the tokens were not listed',
  );
  const report = documents.find((document) => document.spec.accountId === 'SA-101');
  assert.is(report.spec.purpose, undefined);
  const writes = emulator.calls.filter(
    (call) => call.method !== 'GET' && call.path !== '/oauth/token',
  );
  assert.equal(writes, []);
});

test('export round trip: validate passes, plan shows no change', async () => {
  const out = join(folder, 'exported');
  const exported = capture();
  assert.is(
    await runExport(['--tenant-url', emulator.url, '--output-dir', out], exported.io),
    0,
    exported.output.stderr,
  );
  assert.equal((await readdir(out)).sort(), ['backup-job.yaml', 'report.yaml']);

  const validated = capture();
  assert.is(await runValidate([out], validated.io), 0, validated.output.stdout);

  const planned = capture();
  const code = await runPlan([out, '--tenant-url', emulator.url, '--format', 'json'], planned.io);
  const plan = JSON.parse(planned.output.stdout) as {
    changes: boolean;
    accounts: Array<{
      action: string;
      changes: unknown[];
      userLevels?: { add: string[]; present: string[]; kept: string[] };
    }>;
    unmanaged: unknown[];
  };
  assert.is(plan.changes, false);
  assert.equal(plan.accounts[0]?.userLevels, {
    add: [],
    withdraw: [],
    present: ['HELPDESK'],
    kept: ['ORG_ADMIN'],
  });
  assert.equal(
    plan.accounts.map((account) => account.action),
    ['adopt', 'adopt'],
  );
  assert.ok(plan.accounts.every((account) => account.changes.length === 0));
  assert.equal(plan.unmanaged, []);
  assert.is(code, 0, planned.output.stderr);
});

test('export takes a missing e-mail from the identity', async () => {
  const { io, output } = capture();
  assert.is(await runExport(['--tenant-url', emulator.url, '--source-name', 'No Mail'], io), 0);
  const [document] = parseAllDocuments(output.stdout).map((parsed) => parsed.toJS());
  assert.is(document.spec.email, 'report@example.com');
  assert.ok(output.stderr.includes('took report@example.com from its identity'), output.stderr);
});

test('export keeps existing files', async () => {
  const out = join(folder, 'twice');
  const args = ['--tenant-url', emulator.url, '--output-dir', out];
  assert.is(await runExport(args, capture().io), 0);
  const again = capture();
  assert.is(await runExport(args, again.io), 1);
  assert.ok(again.output.stderr.includes('already exists'));
  assert.is(await runExport([...args, '--overwrite'], capture().io), 0);
  assert.ok((await readFile(join(out, 'report.yaml'), 'utf8')).includes('adopt: true'));
});

test('export writes one file with --output', async () => {
  const file = join(folder, 'all.yaml');
  const { io, output } = capture();
  assert.is(await runExport(['--tenant-url', emulator.url, '--output', file], io), 0);
  assert.is(output.stdout, '');
  const documents = parseAllDocuments(await readFile(file, 'utf8'));
  assert.equal(
    documents.map((document) => document.toJS().metadata.name),
    ['backup-job', 'report'],
  );
  assert.is(await runExport(['--tenant-url', emulator.url, '--output', file], capture().io), 1);
});

test('export usage errors', async () => {
  assert.is(await runExport([], capture().io), 2);
  assert.is(
    await runExport(
      ['--tenant-url', emulator.url, '--output', 'a.yaml', '--output-dir', 'out'],
      capture().io,
    ),
    2,
  );
  assert.is(
    await runExport(['--tenant-url', emulator.url, '--deletion-policy', 'Keep'], capture().io),
    2,
  );
  assert.is(
    await runExport(['--tenant-url', emulator.url, '--source-name', 'Nope'], capture().io),
    1,
  );
});

test('export positional argument is a usage error', async () => {
  for (const argv of [
    ['--tenant-url', emulator.url, 'extra'],
    ['csv', '--tenant-url', emulator.url, '--no-cluster', 'extra'],
  ]) {
    const { io, output } = capture();
    assert.is(await runExport(argv, io), 2, argv.join(' '));
    assert.match(output.stderr, 'unexpected argument "extra"');
    assert.match(output.stderr, /run 'isc-sa-operator export( csv)? --help' for usage/);
    assert.not.match(output.stderr, 'Usage:');
    assert.is(output.stdout, '');
  }
});

test('export help ignores other arguments', async () => {
  for (const argv of [
    ['--help', 'extra'],
    ['csv', '-h', 'extra'],
  ]) {
    const { io, output } = capture();
    assert.is(await runExport(argv, io), 0, argv.join(' '));
    assert.match(output.stdout, 'Usage: isc-sa-operator export');
    assert.is(output.stderr, '');
  }
});

test.run();
