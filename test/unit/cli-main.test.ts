/**
 * The isc-sa-operator command as a process: exit codes and messages of usage errors, --version,
 * the tenant URL checks of plan and export, and the early failure against a closed port.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatLogLine } from '../../src/cli/log-lines.ts';
import { operatorVersion } from '../../src/version.ts';

const run = promisify(execFile);
const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const options = { env: { ...process.env, ...env }, timeout: 60_000 };
  try {
    const { stdout, stderr } = await run(process.execPath, [main, ...args], options);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

const usageErrors: Array<{ args: string[]; command: string; message: string }> = [
  { args: ['demo', '--bogus'], command: 'demo', message: 'unknown option --bogus' },
  { args: ['demo', 'extra'], command: 'demo', message: 'unexpected argument "extra"' },
  { args: ['run', '--bogus'], command: 'run', message: 'unknown option --bogus' },
  { args: ['install-crds', 'x'], command: 'install-crds', message: 'unexpected argument "x"' },
  { args: ['emulator', '--bogus'], command: 'emulator', message: "Unknown option '--bogus'" },
  { args: ['emulator', '--port', 'x'], command: 'emulator', message: '--port must be' },
  { args: ['validate', 'missing.yaml'], command: 'validate', message: 'does not exist' },
  { args: ['plan', '--bogus'], command: 'plan', message: 'unknown option --bogus' },
  { args: ['plan', 'examples/'], command: 'plan', message: 'give either --tenant-url' },
  { args: ['export', '--format'], command: 'export', message: 'unknown option --format' },
];

for (const { args, command, message } of usageErrors) {
  test(`usage error: ${args.join(' ')}`, async () => {
    const result = await cli(args);
    assert.is(result.code, 2, result.stderr);
    const lines = result.stderr.trimEnd().split('\n');
    assert.is(lines.length, 2, result.stderr);
    assert.ok(lines[0]!.startsWith(`${command}: `), lines[0]);
    assert.match(lines[0]!, message);
    assert.is(lines[1], `run 'isc-sa-operator ${command} --help' for usage`);
    assert.not.match(result.stderr, 'Usage:');
    assert.is(result.stdout, '');
  });
}

test('unknown command exits 2', async () => {
  const result = await cli(['bogus']);
  assert.is(result.code, 2);
  assert.match(result.stderr, 'unknown command "bogus"');
  assert.not.match(result.stderr, 'Usage:');
});

test('--version prints the version', async () => {
  for (const flag of ['--version', 'version']) {
    const result = await cli([flag]);
    assert.is(result.code, 0, flag);
    assert.is(result.stdout, `isc-sa-operator ${operatorVersion}\n`, flag);
  }
});

test('run and demo --help print usage', async () => {
  for (const command of ['run', 'demo', 'install-crds']) {
    const result = await cli([command, '--help']);
    assert.is(result.code, 0, command);
    assert.ok(result.stdout.startsWith(`Usage: isc-sa-operator ${command}`), result.stdout);
  }
});

test('tenant URL with API version is rejected', async () => {
  for (const suffix of ['/v2025', '/v2025/', '/beta', '/v3']) {
    const url = `https://acme.api.identitynow.com${suffix}`;
    const result = await cli(['plan', 'examples/', '--tenant-url', url], {
      ISC_CLIENT_ID: 'id',
      ISC_CLIENT_SECRET: 'secret',
    });
    assert.is(result.code, 2, suffix);
    assert.match(result.stderr, `ends with the API version "${suffix.replace(/\/$/, '')}"`);
    assert.match(result.stderr, 'https://acme.api.identitynow.com (--api-version');
  }
});

test('plan fails fast on a closed port', async () => {
  // A port that was free a moment ago: nothing listens on it now.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));

  const result = await cli(['plan', 'examples/', '--tenant-url', `http://127.0.0.1:${port}`], {
    ISC_CLIENT_ID: 'id',
    ISC_CLIENT_SECRET: 'secret',
  });
  assert.is(result.code, 1, result.stderr);
  assert.match(result.stderr, `cannot connect to the tenant at http://127.0.0.1:${port}`);
  assert.match(result.stderr, 'ECONNREFUSED');
  assert.not.match(result.stderr, '{"level"');
});

test('run names the busy metrics address', async () => {
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  const { port } = busy.address() as { port: number };
  // The API server address is never contacted: the metrics listener starts first.
  const folder = await mkdtemp(join(tmpdir(), 'cli-main-'));
  const kubeconfig = join(folder, 'kubeconfig');
  await writeFile(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1' } }],
      users: [{ name: 'u', user: { token: 'unused' } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  );
  try {
    const result = await cli(['run'], {
      KUBECONFIG: kubeconfig,
      OPERATOR_METRICS_ADDRESS: `127.0.0.1:${port}`,
      OPERATOR_LEADER_ELECTION: 'false',
    });
    assert.is(result.code, 1, result.stderr);
    assert.match(result.stderr, `cannot listen on 127.0.0.1:${port}`);
    assert.match(result.stderr, 'the address is already in use');
    assert.match(result.stderr, '/metrics');
    assert.match(result.stderr, 'OPERATOR_METRICS_ADDRESS');
  } finally {
    await new Promise((resolve) => busy.close(resolve));
    await rm(folder, { recursive: true, force: true });
  }
});

test('log line becomes text', () => {
  const line = JSON.stringify({
    level: 40,
    time: '2026-01-01T00:00:00.000Z',
    name: 'isc-sa-operator',
    method: 'GET',
    path: '/v2025/sources',
    attempt: 1,
    msg: 'retrying ISC call',
  });
  assert.is(
    formatLogLine('plan', line),
    'plan: warning: retrying ISC call (method=GET, path=/v2025/sources, attempt=1)\n',
  );
  assert.is(formatLogLine('plan', 'not json\n'), 'not json\n');
});

test.run();
