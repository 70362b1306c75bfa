#!/usr/bin/env node
import { ConfigError, readConfig } from '../config.ts';
import { describeError } from '../errors.ts';
import { loadKubeConfig } from '../kube/client.ts';
import { createLogger } from '../log.ts';
import { startOperator } from '../operator.ts';

const usage = `Usage: isc-sa-operator <command> [options]

Commands:
  run        Run the operator against the cluster in KUBECONFIG (or in-cluster) and the ISC
             tenant in ISC_BASE_URL. Configuration comes from environment variables; see README.
  demo       Start a local Kubernetes API server, the ISC emulator and the operator, apply the
             examples and show them converge. Options: --exit-when-ready.
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

Run 'isc-sa-operator <command> --help' for a command's options.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run':
      return runOperator();
    case 'demo': {
      const { runDemo } = await import('./demo.ts');
      return runDemo(rest);
    }
    case 'emulator': {
      const { runEmulatorCommand } = await import('../emulator/main.ts');
      await runEmulatorCommand(rest);
      return 0;
    }
    case 'install-crds': {
      const { installCrds } = await import('../kube/crds.ts');
      const names = await installCrds(loadKubeConfig(process.env.KUBECONFIG || undefined));
      console.log(`installed ${names.join(', ')}`);
      return 0;
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
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      console.log(usage);
      return command === undefined ? 2 : 0;
    default:
      console.error(`unknown command "${command}"\n\n${usage}`);
      return 2;
  }
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
