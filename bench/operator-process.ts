// The operator as a child process (`src/cli/main.ts run`), as a Deployment runs it, so that its
// memory is measured without the harness, the cluster client and the emulator in the same heap.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { findFreePort } from '../src/envtest/ports.ts';
import { parsePrometheus, readProcessMemory, type Sample, sumOf } from './metrics.ts';

const cli = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const root = fileURLToPath(new URL('..', import.meta.url));

/** The way the container image runs the operator: the compiled CLI and the image's NODE_OPTIONS. */
export interface ImageRun {
  entry: string;
  nodeOptions: string;
}

/**
 * Compiles the build the image runs (tsc -p tsconfig.build.json into dist/) and reads the
 * NODE_OPTIONS its Dockerfile sets, so that memory is measured as it ships: the TypeScript
 * source through Node's type stripping uses about 25 MiB more.
 */
export function prepareImageRun(): ImageRun {
  execFileSync(`${root}node_modules/.bin/tsc`, ['-p', 'tsconfig.build.json'], { cwd: root });
  const dockerfile = readFileSync(`${root}Dockerfile`, 'utf8');
  return {
    entry: `${root}dist/src/cli/main.js`,
    nodeOptions: /^ENV NODE_OPTIONS="([^"]*)"/m.exec(dockerfile)?.[1] ?? '',
  };
}

export interface OperatorProcess {
  pid: number;
  metricsUrl: string;
  /** Returns the operator's current Prometheus samples. */
  scrape(): Promise<Sample[]>;
  /** Peak RSS (VmHWM) and peak sampled V8 heap use since start, in bytes. */
  peaks(): { peakRssBytes: number; peakHeapUsedBytes: number };
  /** Sends SIGTERM, then SIGKILL after 15 s, and resolves once the process exited. */
  stop(): Promise<void>;
}

/**
 * Starts the operator with production defaults, overridden only by `env`, and resolves once
 * /readyz returns 200. `entry` is the CLI to run: the TypeScript source by default, or the
 * compiled build that the container image runs. Memory is sampled every second until stop().
 */
export async function startOperatorProcess(
  env: Record<string, string>,
  logPath: string,
  entry = cli,
): Promise<OperatorProcess> {
  const port = await findFreePort();
  const metricsUrl = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(process.execPath, [entry, 'run'], {
    env: {
      PATH: process.env.PATH ?? '',
      OPERATOR_METRICS_ADDRESS: `127.0.0.1:${port}`,
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(logPath, { flags: 'a' });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  let peakRssBytes = 0;
  let peakHeapUsedBytes = 0;
  const scrape = async () => {
    const response = await fetch(`${metricsUrl}/metrics`);
    return parsePrometheus(await response.text());
  };
  const sample = async () => {
    const memory = await readProcessMemory(child.pid!);
    if (memory) peakRssBytes = Math.max(peakRssBytes, memory.peakRssBytes);
  };
  const sampler = setInterval(() => void sample(), 1_000);
  // The heap is read from the operator's own metrics, less often, since each scrape costs it CPU.
  const heapSampler = setInterval(() => {
    scrape().then(
      (samples) => {
        peakHeapUsedBytes = Math.max(
          peakHeapUsedBytes,
          sumOf(samples, 'nodejs_heap_size_used_bytes'),
        );
      },
      () => {},
    );
  }, 5_000);

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(
        `operator exited with code ${child.exitCode} before it was ready; see ${logPath}`,
      );
    }
    const ready = await fetch(`${metricsUrl}/readyz`).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`operator was not ready within 60 s; see ${logPath}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  return {
    pid: child.pid!,
    metricsUrl,
    scrape,
    peaks: () => ({ peakRssBytes, peakHeapUsedBytes }),
    async stop() {
      await sample();
      try {
        peakHeapUsedBytes = Math.max(
          peakHeapUsedBytes,
          sumOf(await scrape(), 'nodejs_heap_size_used_bytes'),
        );
      } catch {
        // The process may already be gone; the earlier samples stay.
      }
      clearInterval(sampler);
      clearInterval(heapSampler);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      log.end();
    },
  };
}
