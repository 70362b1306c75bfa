// Command entry of the ISC emulator: `node src/emulator/main.ts --port 8090`, also reachable as
// `isc-sa-operator emulator`. Runs until SIGINT or SIGTERM.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { UsageError } from '../cli/command-io.ts';
import { parseFaults } from './faults.ts';
import type { EmulatorFixtures } from './fixtures.ts';
import { iscDefaultRateLimit, type RateLimitOptions } from './rate-limit.ts';
import { defaultClientId, type EmulatorOptions, startEmulator } from './server.ts';

/**
 * Well-known secret of the command's default client, so a developer can request a token without
 * reading it from a log. Safe only because the emulator accepts loopback connections only.
 */
export const defaultCommandClientSecret = 'isc-emulator-secret';

const usage = `Usage: isc-sa-operator emulator [options]

Runs an in-memory ISC tenant emulator on loopback until interrupted.

Options:
  --host <address>          loopback address to listen on: 127.0.0.1, ::1 or localhost
                            (default 127.0.0.1)
  --port <number>           TCP port; 0 picks a free port (default 0)
  --client-id <id>          client id of the accepted PAT credential (default ${defaultClientId})
  --client-secret <secret>  its client secret (default: $ISC_EMULATOR_CLIENT_SECRET, else the
                            well-known value ${defaultCommandClientSecret})
  --async-delay-ms <ms>     delay before account changes and identity processing complete
                            (default 100)
  --token-ttl-seconds <s>   lifetime of access tokens (default 43200)
  --latency-ms <ms>         delay added before every API response (default 0)
  --rate-limit <n>/<s>      allow n requests per s seconds per client id and API family, or
                            "isc" for ISC's 100/10 (default: no limit)
  --seed <number>           seed of faults and list order (default: $ISC_EMULATOR_SEED, else
                            random; the emulator logs the seed it uses)
  --faults <json|@file>     fault configuration as JSON, or @ and a JSON file path (default:
                            $ISC_EMULATOR_FAULTS, else none); see src/emulator/README.md
  --list-order <order>      order of lists without sorters: shuffled or insertion
                            (default shuffled)
  --list-lag-ms <ms>        time new objects stay out of list results (default 0)
  --state-file <path>       JSON file to load the tenant from on start and save it to on stop
                            (default: $ISC_EMULATOR_STATE_FILE, else none)
  --fixtures <path>         JSON file of identities, sources and accounts to create on start,
                            unless the state file exists
  --pat-scope-delay-ms <ms> time after a PAT's scope change until new access tokens carry the
                            new scopes (default 0; ISC documents up to 20 minutes)
  --internal-fault-on-missing-scope <ids>
                            comma-separated operationIds that respond with 500 instead of
                            403 to a token without the needed scope (default: none)
  --help                    show this help
`;

function parseNonNegativeInteger(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) {
    throw new UsageError(`--${name} must be a non-negative integer, got "${value}"`);
  }
  return Number(value);
}

function parseRateLimit(value: string | undefined): RateLimitOptions | undefined {
  if (value === undefined) return undefined;
  if (value === 'isc') return iscDefaultRateLimit;
  const match = /^(\d+)\/(\d+)$/.exec(value);
  if (!match || Number(match[1]) === 0 || Number(match[2]) === 0) {
    throw new UsageError(`--rate-limit must be <requests>/<seconds> or "isc", got "${value}"`);
  }
  return { requests: Number(match[1]), windowMs: Number(match[2]) * 1000 };
}

/** Reads a JSON value given inline or, after a leading @, from a file. */
function readJsonArgument(name: string, value: string): unknown {
  const text = value.startsWith('@') ? readFileSync(value.slice(1), 'utf8') : value;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--${name} is not valid JSON: ${(error as Error).message}`);
  }
}

function parseListOrder(value: string | undefined): EmulatorOptions['listOrder'] {
  if (value === undefined || value === 'shuffled' || value === 'insertion') return value;
  throw new UsageError(`--list-order must be shuffled or insertion, got "${value}"`);
}

function parseOperationList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const operations = value.split(',').map((entry) => entry.trim());
  if (operations.some((operation) => !/^[A-Za-z]+$/.test(operation))) {
    throw new UsageError(
      `--internal-fault-on-missing-scope must be operationIds separated by commas, got "${value}"`,
    );
  }
  return operations;
}

/** Command options, or `help` when the usage text was requested. */
export type EmulatorCommand = { help: true } | { help: false; options: EmulatorOptions };

/** Turns command-line arguments and environment variables into emulator options. */
export function parseEmulatorCommand(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): EmulatorCommand {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      'client-id': { type: 'string', default: defaultClientId },
      'client-secret': { type: 'string' },
      'async-delay-ms': { type: 'string' },
      'token-ttl-seconds': { type: 'string' },
      'latency-ms': { type: 'string' },
      'rate-limit': { type: 'string' },
      seed: { type: 'string' },
      faults: { type: 'string' },
      'list-order': { type: 'string' },
      'list-lag-ms': { type: 'string' },
      'state-file': { type: 'string' },
      fixtures: { type: 'string' },
      'pat-scope-delay-ms': { type: 'string' },
      'internal-fault-on-missing-scope': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) return { help: true };

  const clientSecret =
    values['client-secret'] ?? env.ISC_EMULATOR_CLIENT_SECRET ?? defaultCommandClientSecret;
  const faultsText = values.faults ?? env.ISC_EMULATOR_FAULTS;
  const seed = parseNonNegativeInteger('seed', values.seed ?? env.ISC_EMULATOR_SEED);
  if (seed !== undefined && seed >= 2 ** 32) {
    throw new UsageError(`--seed must be below 2^32, got ${seed}`);
  }
  return {
    help: false,
    options: {
      host: values.host,
      port: parseNonNegativeInteger('port', values.port) ?? 0,
      asyncDelayMs: parseNonNegativeInteger('async-delay-ms', values['async-delay-ms']) ?? 100,
      tokenTtlSeconds: parseNonNegativeInteger('token-ttl-seconds', values['token-ttl-seconds']),
      latencyMs: parseNonNegativeInteger('latency-ms', values['latency-ms']),
      rateLimit: parseRateLimit(values['rate-limit']),
      seed,
      faults: faultsText ? parseFaults(readJsonArgument('faults', faultsText)) : undefined,
      listOrder: parseListOrder(values['list-order']),
      listLagMs: parseNonNegativeInteger('list-lag-ms', values['list-lag-ms']),
      stateFile: values['state-file'] ?? env.ISC_EMULATOR_STATE_FILE,
      fixtures: values.fixtures
        ? (readJsonArgument('fixtures', `@${values.fixtures}`) as EmulatorFixtures)
        : undefined,
      patScopeDelayMs: parseNonNegativeInteger('pat-scope-delay-ms', values['pat-scope-delay-ms']),
      internalFaultOnMissingScope: parseOperationList(values['internal-fault-on-missing-scope']),
      clients: [{ clientId: values['client-id'], clientSecret }],
    },
  };
}

/** Starts the emulator from command-line arguments; resolves after a signal stopped it. */
export async function runEmulatorCommand(argv: string[]): Promise<void> {
  const command = parseEmulatorCommand(argv);
  if (command.help) {
    process.stdout.write(usage);
    return;
  }

  const logger = pino({ name: 'isc-emulator', level: process.env.LOG_LEVEL ?? 'info' });
  const emulator = await startEmulator({ ...command.options, logger });
  const clientId = emulator.clients[0]!.clientId;
  process.stdout.write(`ISC emulator listening on ${emulator.url}\n`);
  process.stdout.write(`client id: ${clientId}\n`);
  process.stdout.write(`token endpoint: ${emulator.url}/oauth/token\n`);
  process.stdout.write(`seed: ${emulator.seed}\n`);

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
    const usage =
      error instanceof UsageError ||
      (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS_');
    process.exitCode = usage ? 2 : 1;
  });
}
