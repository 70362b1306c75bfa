#!/usr/bin/env node
import { ConfigError, readConfig } from '../config.ts';
import { describeError } from '../errors.ts';
import { loadKubeConfig } from '../kube/client.ts';
import { createLogger } from '../log.ts';
import { startOperator } from '../operator.ts';
import { operatorVersion } from '../version.ts';
import { exitCodes, parseCommandArgs, UsageError, usageErrorText } from './command-io.ts';

const usage = `Usage: isc-sa-operator <command> [options]

Commands:
  run        Run the operator against the cluster in KUBECONFIG (or in-cluster) and the ISC
             tenant in ISC_BASE_URL. Configuration comes from environment variables; see README.
  demo       Start a local Kubernetes API server, the ISC emulator and the operator, apply the
             examples and show them converge. Options: --exit-when-ready, --no-operator.
  emulator   Run the ISC emulator on its own. Options: --port, --host, --client-id,
             --client-secret, --async-delay-ms.
  install-crds
             Create or update the CustomResourceDefinitions in the cluster in KUBECONFIG.
  validate   Check ServiceAccount and Tenant manifests (files, folders, - for stdin) against the
             CRDs in crds/ and an optional --policy file, without a cluster.
  plan       Show what applying manifests would change in an ISC tenant, using read-only calls.
             Options: --tenant-url or --tenant-file, --base, --policy,
             --format table|markdown|json, --output FILE.
  export     Write ServiceAccount manifests with spec.adopt: true for the accounts on a
             tenant's source. Options: --tenant-url or --tenant-file, --output FILE or
             --output-dir FOLDER. 'export csv' prints the account file (CSV) that matches
             the cluster.
  version    Print the version (also --version).

Run 'isc-sa-operator <command> --help' for a command's options.`;

const runUsage = `Usage: isc-sa-operator run

Runs the operator against the cluster in KUBECONFIG (or in-cluster). It takes no options:
configuration comes from environment variables (OPERATOR_*, ISC_*, LOG_LEVEL); see README.`;

const installCrdsUsage = `Usage: isc-sa-operator install-crds

Creates or updates the CustomResourceDefinitions in crds/ in the cluster in KUBECONFIG.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    return await runCommand(command, rest);
  } catch (error) {
    if (!isUsageError(error)) throw error;
    // node:util parseArgs names the option, e.g. "Unknown option '--bogus'".
    console.error(usageErrorText(command!, error.message));
    return exitCodes.usage;
  }
}

async function runCommand(command: string | undefined, rest: string[]): Promise<number> {
  switch (command) {
    case 'run':
      if (helpRequested(rest, runUsage)) return exitCodes.ok;
      return runOperator();
    case 'demo': {
      const { runDemo } = await import('./demo.ts');
      return runDemo(rest);
    }
    case 'emulator': {
      const { runEmulatorCommand } = await import('../emulator/main.ts');
      await runEmulatorCommand(rest);
      return exitCodes.ok;
    }
    case 'install-crds': {
      if (helpRequested(rest, installCrdsUsage)) return exitCodes.ok;
      const { installCrds } = await import('../kube/crds.ts');
      const names = await installCrds(loadKubeConfig(process.env.KUBECONFIG || undefined));
      console.log(`installed ${names.join(', ')}`);
      return exitCodes.ok;
    }
    case 'validate': {
      const { runValidate } = await import('./validate.ts');
      return runValidate(rest);
    }
    case 'plan': {
      const { runPlan } = await import('./plan.ts');
      return runPlan(rest);
    }
    case 'export': {
      const { runExport } = await import('./export.ts');
      return runExport(rest);
    }
    case '-v':
    case '--version':
    case 'version':
      console.log(`isc-sa-operator ${operatorVersion}`);
      return exitCodes.ok;
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      console.log(usage);
      return command === undefined ? exitCodes.usage : exitCodes.ok;
    default:
      console.error(
        `isc-sa-operator: unknown command "${command}"\n` +
          "run 'isc-sa-operator --help' for the list of commands",
      );
      return exitCodes.usage;
  }
}

/**
 * Prints `commandUsage` and returns true for -h or --help. Throws UsageError for any other
 * argument, because the command takes none.
 */
function helpRequested(argv: string[], commandUsage: string): boolean {
  const { values, positionals } = parseCommandArgs(argv, {
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(commandUsage);
    return true;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  return false;
}

/** Tells whether `error` is a wrong command line: a UsageError or a node:util parseArgs error. */
function isUsageError(error: unknown): error is Error {
  if (error instanceof UsageError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

async function runOperator(): Promise<number> {
  let config: ReturnType<typeof readConfig>;
  try {
    config = readConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
  const logger = createLogger({ level: config.logLevel });
  const operator = await startOperator(config, loadKubeConfig(config.kubeconfigPath), logger, {
    onLeadershipLost: () => {
      // Another replica may already be reconciling; stopping at once avoids two writers.
      logger.error('exiting after losing leadership');
      process.exit(1);
    },
  });

  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      logger.info({ signal }, 'stopping operator');
      resolve();
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
  await operator.stop();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const detail = process.env.LOG_LEVEL === 'debug' && error instanceof Error ? error.stack : '';
    console.error(`isc-sa-operator: ${describeError(error)}${detail ? `\n${detail}` : ''}`);
    process.exitCode = 1;
  },
);
