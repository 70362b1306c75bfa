// Command entry of the ISC emulator: `node src/emulator/main.ts --port 8080`, also reachable as
// `isc-sa-operator emulator`. Runs until SIGINT or SIGTERM.

import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { defaultClientId, startEmulator } from './server.ts';

/**
 * Well-known secret of the command's default client, so a developer can request a token without
 * reading it from a log. Safe only because the emulator accepts loopback connections only.
 */
export const defaultCommandClientSecret = 'isc-emulator-secret';

const usage = `Usage: isc-sa-operator emulator [options]

Runs an in-memory ISC tenant emulator on loopback until interrupted.

Options:
  --host <address>         loopback address to listen on: 127.0.0.1, ::1 or localhost
                           (default 127.0.0.1)
  --port <number>          TCP port; 0 picks a free port (default 0)
  --client-id <id>         client id of the accepted PAT credential (default ${defaultClientId})
  --client-secret <secret> its client secret (default: $ISC_EMULATOR_CLIENT_SECRET, else the
                           well-known value ${defaultCommandClientSecret})
  --async-delay-ms <ms>    delay before account changes and identity processing complete
                           (default 100)
  --help                   show this help
`;

function parseNonNegativeInteger(
  name: string,
  value: string | undefined,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) {
    throw new Error(`--${name} must be a non-negative integer, got "${value}"`);
  }
  return Number(value);
}

/** Starts the emulator from command-line arguments; resolves after a signal stopped it. */
export async function runEmulatorCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      'client-id': { type: 'string', default: defaultClientId },
      'client-secret': { type: 'string' },
      'async-delay-ms': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(usage);
    return;
  }

  const logger = pino({ name: 'isc-emulator', level: process.env.LOG_LEVEL ?? 'info' });
  const clientId = values['client-id'];
  const clientSecret =
    values['client-secret'] ?? process.env.ISC_EMULATOR_CLIENT_SECRET ?? defaultCommandClientSecret;
  const emulator = await startEmulator({
    host: values.host,
    port: parseNonNegativeInteger('port', values.port, 0),
    asyncDelayMs: parseNonNegativeInteger('async-delay-ms', values['async-delay-ms'], 100),
    clients: [{ clientId, clientSecret }],
    logger,
  });
  process.stdout.write(`ISC emulator listening on ${emulator.url}\n`);
  process.stdout.write(`client id: ${clientId}\n`);
  process.stdout.write(`token endpoint: ${emulator.url}/oauth/token\n`);

  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      logger.info({ signal }, 'stopping the ISC emulator');
      emulator.close().then(resolve, (error: unknown) => {
        logger.error({ err: error }, 'the ISC emulator did not stop cleanly');
        resolve();
      });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

if (import.meta.main) {
  runEmulatorCommand(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`isc emulator: ${(error as Error).message}\n`);
    process.exitCode = 1;
  });
}
