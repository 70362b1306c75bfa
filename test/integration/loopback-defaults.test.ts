/**
 * Development defaults listen on loopback only: the ISC emulator, in process and as the
 * `emulator` command, and the operator's metrics and health endpoints. The listening address is
 * read from the kernel's socket table (/proc/net/tcp), not from the programs' own output.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readConfig } from '../../src/config.ts';
import { startEmulator } from '../../src/emulator/server.ts';
import { OperatorMetrics, serveMetrics } from '../../src/metrics.ts';
import { waitFor } from '../support/wait.ts';

const cli = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/** Returns the local IPv4 addresses of the sockets listening on `port`, e.g. 127.0.0.1. */
async function listeningAddresses(port: number): Promise<string[]> {
  const table = await readFile('/proc/net/tcp', 'utf8');
  const addresses: string[] = [];
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4) continue;
    const [hexAddress, hexPort] = fields[1]!.split(':');
    // State 0A is LISTEN; the address is a little-endian hexadecimal IPv4 address.
    if (fields[3] !== '0A' || Number.parseInt(hexPort!, 16) !== port) continue;
    const octets = hexAddress!.match(/../g)!.map((byte) => Number.parseInt(byte, 16));
    addresses.push(octets.reverse().join('.'));
  }
  return addresses;
}

test('emulator listens on 127.0.0.1 by default', async () => {
  const emulator = await startEmulator({});
  try {
    assert.match(emulator.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(await listeningAddresses(emulator.port), ['127.0.0.1']);
  } finally {
    await emulator.close();
  }
});

test('emulator rejects a non-loopback host', async () => {
  for (const host of ['0.0.0.0', '::', '192.0.2.1']) {
    try {
      const emulator = await startEmulator({ host });
      await emulator.close();
      assert.unreachable(`host ${host} was accepted`);
    } catch (error) {
      assert.match((error as Error).message, 'is not a loopback address', host);
    }
  }
});

test('emulator command listens on 127.0.0.1 by default', async () => {
  const child = spawn(process.execPath, [cli, 'emulator', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  try {
    const url = await waitFor('the emulator command to print its URL', async () => {
      return /ISC emulator listening on (\S+)/.exec(output)?.[1];
    });
    const { hostname, port } = new URL(url);
    assert.is(hostname, '127.0.0.1');
    assert.equal(await listeningAddresses(Number(port)), ['127.0.0.1']);
  } finally {
    child.kill('SIGTERM');
  }
});

test('metrics endpoint listens on 127.0.0.1 by default', async () => {
  const config = readConfig({
    ISC_BASE_URL: 'https://acme.api.identitynow.com',
    ISC_CLIENT_ID: 'id',
    ISC_CLIENT_SECRET: 'secret',
  });
  assert.equal(config.metricsAddress, { host: '127.0.0.1', port: 8080 });
  // Port 0 instead of 8080, which another process on the machine may hold.
  const server = await serveMetrics(
    new OperatorMetrics(),
    { host: config.metricsAddress!.host, port: 0 },
    () => true,
    pino({ level: 'silent' }),
  );
  try {
    const { port } = server.address() as AddressInfo;
    assert.equal(await listeningAddresses(port), ['127.0.0.1']);
  } finally {
    server.close();
  }
});

test.run();
