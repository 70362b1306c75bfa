import { randomBytes } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';

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

  /** Records an Event; Events of cluster-scoped objects such as Tenants go to "default". */
  async record(resource: KubernetesObject, note: EventNote): Promise<void> {
    const now = new Date();
    const objectName = resource.metadata?.name ?? '';
    const name = `${objectName}.${randomBytes(8).toString('hex')}`;
    const namespace = resource.metadata?.namespace ?? 'default';
    try {
      await this.core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { name, namespace },
          involvedObject: {
            apiVersion: resource.apiVersion,
            kind: resource.kind,
            name: objectName,
            ...(resource.metadata?.namespace ? { namespace: resource.metadata.namespace } : {}),
            uid: resource.metadata?.uid,
            resourceVersion: resource.metadata?.resourceVersion,
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
