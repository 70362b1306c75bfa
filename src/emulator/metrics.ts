// Prometheus counters of one emulator instance, served at GET /__admin/metrics. Each instance has
// its own registry, so emulators started side by side in one process do not share counts.

import { Counter, Registry } from 'prom-client';

export class EmulatorMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'isc_emulator_requests_total',
    help: 'API requests handled, by operationId, method and response status (0 for dropped).',
    labelNames: ['operation', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly faults = new Counter({
    name: 'isc_emulator_faults_injected_total',
    help: 'Injected faults, by kind (error, drop-before, drop-after, expired-token) and operationId.',
    labelNames: ['kind', 'operation'] as const,
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: 'isc_emulator_rate_limited_total',
    help: 'Requests rejected by the gateway rate limit with 429, by client id and API family.',
    labelNames: ['client_id', 'family'] as const,
    registers: [this.registry],
  });

  /** Returns the counters in the Prometheus text exposition format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
