/**
 * The account file round trip against the emulator over HTTP: a file rendered with tricky
 * values is uploaded with load-accounts, parsed by the emulator, and `export csv` prints it
 * back byte for byte.
 */
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CommandIo } from '../../src/cli/command-io.ts';
import { runExport } from '../../src/cli/export.ts';
import { TenantSetup } from '../../src/controller/tenant.ts';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.ts';
import { parseAccountsCsv, renderAccountsCsv } from '../../src/isc/accounts-csv.ts';
import { IscApi } from '../../src/isc/api.ts';
import { IscClient } from '../../src/isc/client.ts';
import { eq } from '../../src/isc/filters.ts';
import type { Account } from '../../src/isc/types.ts';
import { trickyValues } from '../support/tricky-values.ts';

const credential = { clientId: 'csv-round-trip', clientSecret: `secret-${crypto.randomUUID()}` };
let emulator: RunningEmulator;
let api: IscApi;
let sourceId: string;
const columns = ['id', 'name', 'e-mail', 'purpose'];

test.before(async () => {
  emulator = await startEmulator({ clients: [credential], asyncDelayMs: 10 });
  api = new IscApi(
    new IscClient({ baseUrl: emulator.url, ...credential, logger: pino({ level: 'silent' }) }),
  );
  const setup = new TenantSetup(
    api,
    {
      sourceName: 'Service Accounts',
      identityProfileName: 'Service Accounts',
      cacheTtlMs: 60_000,
      identityProcessingIntervalMs: 0,
    },
    pino({ level: 'silent' }),
  );
  sourceId = (await setup.ensure()).source.id;
});

test.after(async () => {
  await emulator?.close();
});

function exportIo(): { io: CommandIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    io: {
      stdout: (text) => {
        out += text;
      },
      stderr: (text) => {
        err += text;
      },
      stdin: Readable.from([]),
      env: { ISC_CLIENT_ID: credential.clientId, ISC_CLIENT_SECRET: credential.clientSecret },
    },
    out: () => out,
    err: () => err,
  };
}

const rows = trickyValues.map(([label, value], index) => ({
  id: `RT-${String(index).padStart(2, '0')}`,
  name: `rt${index}`,
  'e-mail': `rt${index}@example.com`,
  purpose: value,
  label,
}));

test('table has at least 15 values', () => {
  assert.ok(rows.length >= 15, `${rows.length} values`);
});

test('file survives upload and export', async () => {
  const text = renderAccountsCsv(columns, rows);
  const task = await api.loadAccounts(sourceId, text, { disableOptimization: true });
  const status = await api.waitForTask(task.id, { initialDelayMs: 20 });
  assert.is(status.completionStatus, 'SUCCESS');

  const accounts: Account[] = [];
  for await (const account of api.list<Account>('accounts', '', {
    filters: eq('sourceId', sourceId),
    sorters: 'id',
  })) {
    accounts.push(account);
  }
  for (const row of rows) {
    const account = accounts.find((candidate) => candidate.nativeIdentity === row.id);
    assert.is(account?.attributes?.purpose, row.purpose, `${row.label} after the upload`);
  }

  const { io, out, err } = exportIo();
  const code = await runExport(['csv', '--tenant-url', emulator.url, '--no-cluster'], io);
  assert.is(code, 0, err());
  assert.is(out(), text);
  const parsed = parseAccountsCsv(out()).rows;
  for (const row of rows) {
    const exported = parsed.find((candidate) => candidate.id === row.id);
    assert.is(exported?.purpose, row.purpose, `${row.label} after the export`);
  }
});

test('upload keeps the multipart file byte for byte', async () => {
  const text = renderAccountsCsv(columns, rows);
  const task = await api.loadAccounts(sourceId, text, { disableOptimization: false });
  const status = await api.waitForTask(task.id, { initialDelayMs: 20 });
  assert.is(status.completionStatus, 'SUCCESS');
  // With optimization, rows equal to the last upload are skipped: any changed byte (a CRLF
  // turned into LF, say) would count as an update.
  assert.is(status.attributes?.updated, 0);
  assert.is(status.attributes?.optimized, rows.length);
});

test('export csv without a tenant is a usage error', async () => {
  const { io, err } = exportIo();
  const code = await runExport(['csv', '--no-cluster'], io);
  assert.is(code, 2);
  assert.match(err(), '--tenant-url');
});

test.run();
