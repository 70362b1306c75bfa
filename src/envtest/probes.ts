import { readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CertificateFiles } from './certificates.ts';
import { type ManagedProcess, readLogTail } from './process.ts';

/** TLS material for probing a server that requires client certificates. */
export interface ProbeTls {
  caCertificatePath: string;
  client?: CertificateFiles;
}

/** Status code and body of one probe request. */
export interface ProbeResponse {
  status: number;
  body: string;
}

/** Sends one GET request to url, trusting only tls.caCertificatePath for https URLs. */
export async function probe(url: string, tls?: ProbeTls): Promise<ProbeResponse> {
  const target = new URL(url);
  const options =
    target.protocol === 'https:' && tls !== undefined
      ? {
          ca: await readFile(tls.caCertificatePath),
          cert: tls.client === undefined ? undefined : await readFile(tls.client.certificate),
          key: tls.client === undefined ? undefined : await readFile(tls.client.key),
        }
      : {};
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;

  return new Promise((resolve, reject) => {
    const outgoing = request(target, { ...options, method: 'GET', timeout: 5000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      response.on('error', reject);
    });
    outgoing.on('timeout', () => outgoing.destroy(new Error(`GET ${url} timed out after 5 s`)));
    outgoing.on('error', reject);
    outgoing.end();
  });
}

/** Options for waitUntilReady. */
export interface WaitUntilReadyOptions {
  /** Process that serves url. Waiting stops with its log tail if it exits. */
  process: ManagedProcess;
  url: string;
  tls?: ProbeTls;
  /** Returns whether a response means ready. Defaults to status 200. */
  isReady?: (response: ProbeResponse) => boolean;
  timeoutMs: number;
}

/** Error for a control plane process that failed to start or become ready. */
export class StartupError extends Error {
  /** Whether the log shows that the port was taken, so a retry on new ports may succeed. */
  readonly addressInUse: boolean;

  constructor(message: string, logTail: string) {
    super(message);
    this.name = 'StartupError';
    this.addressInUse = /address already in use/i.test(logTail);
  }
}

/**
 * Polls url until it reports ready. Throws StartupError, including the end of the process log,
 * when the process exits first or timeoutMs passes.
 */
export async function waitUntilReady(options: WaitUntilReadyOptions): Promise<void> {
  const { process: child, url } = options;
  const isReady = options.isReady ?? ((response) => response.status === 200);
  const deadline = Date.now() + options.timeoutMs;
  let lastFailure = 'no response yet';

  while (Date.now() < deadline) {
    if (child.hasExited()) {
      const exit = await child.exited;
      const status = exit.signal === null ? `status ${exit.exitCode}` : `signal ${exit.signal}`;
      throw await startupError(child, `${child.name} exited with ${status} during startup`);
    }
    try {
      const response = await probe(url, options.tls);
      if (isReady(response)) {
        return;
      }
      lastFailure = `status ${response.status}: ${response.body.slice(0, 500)}`;
    } catch (error) {
      lastFailure = (error as Error).message;
    }
    await sleep(250);
  }
  throw await startupError(
    child,
    `${child.name} was not ready at ${url} within ${options.timeoutMs / 1000} s ` +
      `(last result: ${lastFailure})`,
  );
}

async function startupError(child: ManagedProcess, summary: string): Promise<StartupError> {
  const tail = await readLogTail(child.logPath);
  return new StartupError(`${summary}; end of ${child.logPath}:\n${tail}`, tail);
}
