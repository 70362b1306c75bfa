import { randomBytes } from 'node:crypto';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { ServiceAccount } from './types.ts';

export interface EventNote {
  type: 'Normal' | 'Warning';
  /** CamelCase, stable: tools filter on it. */
  reason: string;
  message: string;
}

/**
 * Records Kubernetes Events (core/v1) on resources, for `kubectl describe` and event exporters.
 * A failed write is logged at debug level and dropped: Events are best effort.
 */
export class EventRecorder {
  private readonly core: CoreV1Api;
  private readonly logger: Logger;

  constructor(kubeConfig: KubeConfig, logger: Logger) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.logger = logger;
  }

  async record(resource: ServiceAccount, note: EventNote): Promise<void> {
    const now = new Date();
    const name = `${resource.metadata.name}.${randomBytes(8).toString('hex')}`;
    try {
      await this.core.createNamespacedEvent({
        namespace: resource.metadata.namespace,
        body: {
          metadata: { name, namespace: resource.metadata.namespace },
          involvedObject: {
            apiVersion: resource.apiVersion,
            kind: resource.kind,
            name: resource.metadata.name,
            namespace: resource.metadata.namespace,
            uid: resource.metadata.uid,
            resourceVersion: resource.metadata.resourceVersion,
          },
          type: note.type,
          reason: note.reason,
          message: note.message,
          count: 1,
          firstTimestamp: now,
          lastTimestamp: now,
          source: { component: 'isc-sa-operator' },
          reportingComponent: 'isc-sa-operator',
          reportingInstance: process.env.HOSTNAME ?? 'isc-sa-operator',
        },
      });
    } catch (error) {
      this.logger.debug({ reason: note.reason, err: String(error) }, 'event not recorded');
    }
  }
}
