import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { IscCallObserver } from './isc/client.ts';

/** Prometheus metrics of one operator process. Label values never carry ids or secrets. */
export class OperatorMetrics implements IscCallObserver {
  readonly registry = new Registry();
  private readonly iscRequests: Counter<'method' | 'endpoint' | 'status'>;
  private readonly iscRequestSeconds: Histogram<'method' | 'endpoint'>;
  private readonly iscRetries: Counter<'method' | 'endpoint' | 'reason'>;
  private readonly reconciles: Counter<'result' | 'reason'>;
  private readonly reconcileSeconds: Histogram<'result'>;
  private readonly csvUploads: Counter<'tenant' | 'result'>;
  private readonly csvUploadRows: Histogram<'tenant'>;
  private readonly csvUploadChanges: Histogram<'tenant'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.iscRequests = new Counter({
      name: 'isc_requests_total',
      help: 'ISC API requests by method, endpoint template and HTTP status (or network_error).',
      labelNames: ['method', 'endpoint', 'status'],
      registers: [this.registry],
    });
    this.iscRequestSeconds = new Histogram({
      name: 'isc_request_duration_seconds',
      help: 'Duration of one ISC API request attempt, in seconds.',
      labelNames: ['method', 'endpoint'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [this.registry],
    });
    this.iscRetries = new Counter({
      name: 'isc_request_retries_total',
      help: 'ISC API requests sent again, by reason (rate_limited, server_error, network_error, unauthorized).',
      labelNames: ['method', 'endpoint', 'reason'],
      registers: [this.registry],
    });
    this.reconciles = new Counter({
      name: 'isc_sa_reconciles_total',
      help: 'ServiceAccount reconciles by result (ready, waiting, stalled, error, conflict) and reason.',
      labelNames: ['result', 'reason'],
      registers: [this.registry],
    });
    this.reconcileSeconds = new Histogram({
      name: 'isc_sa_reconcile_duration_seconds',
      help: 'Duration of one ServiceAccount reconcile including its ISC calls, in seconds.',
      labelNames: ['result'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [this.registry],
    });
    this.csvUploads = new Counter({
      name: 'isc_csv_uploads_total',
      help: 'Account file uploads of csv-mode tenants by result (SUCCESS, WARNING, ERROR, failed) and refusals (UnsafeUpload, SchemaMismatch).',
      labelNames: ['tenant', 'result'],
      registers: [this.registry],
    });
    this.csvUploadRows = new Histogram({
      name: 'isc_csv_upload_rows',
      help: 'Rows (accounts) in one uploaded account file.',
      labelNames: ['tenant'],
      buckets: [10, 100, 1_000, 10_000, 100_000],
      registers: [this.registry],
    });
    this.csvUploadChanges = new Histogram({
      name: 'isc_csv_upload_accounts_changed',
      help: 'Accounts one uploaded account file creates, changes or removes.',
      labelNames: ['tenant'],
      buckets: [1, 10, 100, 1_000, 10_000],
      registers: [this.registry],
    });
  }

  /** Counts one account file upload (or refusal) of a csv-mode tenant. */
  csvUpload(tenant: string, result: string, rows?: number, changed?: number): void {
    this.csvUploads.inc({ tenant, result });
    if (rows !== undefined) this.csvUploadRows.observe({ tenant }, rows);
    if (changed !== undefined) this.csvUploadChanges.observe({ tenant }, changed);
  }

  call(method: string, path: string, status: number | 'network_error', durationMs: number): void {
    const endpoint = endpointTemplate(path);
    this.iscRequests.inc({ method, endpoint, status: String(status) });
    this.iscRequestSeconds.observe({ method, endpoint }, durationMs / 1000);
  }

  retry(method: string, path: string, reason: string): void {
    this.iscRetries.inc({ method, endpoint: endpointTemplate(path), reason });
  }

  reconciled(result: string, reason: string, durationMs: number): void {
    this.reconciles.inc({ result, reason });
    this.reconcileSeconds.observe({ result }, durationMs / 1000);
  }

  /** Registers a gauge whose value is read at scrape time. */
  gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }
}

/**
 * Replaces ids in an API path with `{id}`, so that the endpoint label has a bounded number of
 * values: `/v2025/accounts/2c91...` becomes `/v2025/accounts/{id}`.
 */
export function endpointTemplate(path: string): string {
  return path
    .split('?')[0]!
    .split('/')
    .map((segment) => (/^[0-9a-f]{32}$|^[0-9a-f-]{36}$|^\d+$/i.test(segment) ? '{id}' : segment))
    .join('/');
}

/**
 * Serves `/metrics`, `/healthz` (the process runs) and `/readyz` (`ready()` returns true) on
 * `host:port`. Returns the listening server.
 */
export async function serveMetrics(
  metrics: OperatorMetrics,
  address: { host: string; port: number },
  ready: () => boolean,
  logger: Logger,
): Promise<Server> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET') {
      response.writeHead(405).end();
      return;
    }
    if (path === '/healthz') {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const isReady = ready();
      response
        .writeHead(isReady ? 200 : 503, { 'content-type': 'text/plain' })
        .end(isReady ? 'ok\n' : 'not ready: the informer has not listed every resource yet\n');
    } else if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) =>
          response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (error: unknown) => {
          logger.warn({ err: String(error) }, 'metrics collection failed');
          response.writeHead(500).end();
        },
      );
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => resolve());
  });
  const bound = server.address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : address.port;
  logger.info({ host: address.host, port }, 'metrics and health endpoints listening');
  return server;
}
