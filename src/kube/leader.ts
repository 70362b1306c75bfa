import {
  ApiException,
  CoordinationV1Api,
  type KubeConfig,
  type V1Lease,
  V1MicroTime,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { describeError } from '../errors.ts';

export interface LeaderElectionOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  leaseName: string;
  /** Unique per process, e.g. the pod name plus a random suffix. */
  identity: string;
  /** How long a lease stays valid without renewal, in seconds (client-go default: 15). */
  leaseDurationSeconds?: number;
  /** How often the leader renews and candidates retry, in ms (client-go default: 2000). */
  retryPeriodMs?: number;
  logger: Logger;
}

/**
 * Lease-based leader election on coordination.k8s.io/v1, the mechanism controller-runtime and
 * client-go use: the holder renews `spec.renewTime`; a candidate takes the lease over only after
 * it went unrenewed for `leaseDurationSeconds`. Every write is conditional on resourceVersion,
 * so two candidates cannot both win.
 */
export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly options: Required<Omit<LeaderElectionOptions, 'kubeConfig'>>;
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private stopped = false;
  private lastRenewal = 0;

  constructor(options: LeaderElectionOptions) {
    this.api = options.kubeConfig.makeApiClient(CoordinationV1Api);
    this.options = {
      namespace: options.namespace,
      leaseName: options.leaseName,
      identity: options.identity,
      leaseDurationSeconds: options.leaseDurationSeconds ?? 15,
      retryPeriodMs: options.retryPeriodMs ?? 2_000,
      logger: options.logger.child({ component: 'leader-election', lease: options.leaseName }),
    };
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * Resolves once this process holds the lease, then keeps renewing it. `onLost` runs when a
   * renewal has not succeeded for a whole lease duration; the caller should stop working at
   * once, since another process may already lead.
   */
  async acquire(onLost: () => void): Promise<void> {
    for (;;) {
      if (this.stopped) throw new Error('leader election stopped before the lease was acquired');
      if (await this.tryAcquireOrRenew()) break;
      await new Promise((resolve) => setTimeout(resolve, this.options.retryPeriodMs));
    }
    this.leading = true;
    this.lastRenewal = Date.now();
    this.options.logger.info({ identity: this.options.identity }, 'became leader');
    this.scheduleRenewal(onLost);
  }

  /** Stops renewing and gives the lease up, so the next candidate need not wait for expiry. */
  async release(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.read();
      if (lease?.spec?.holderIdentity !== this.options.identity) return;
      lease.spec.holderIdentity = undefined;
      lease.spec.renewTime = undefined;
      await this.api.replaceNamespacedLease({
        namespace: this.options.namespace,
        name: this.options.leaseName,
        body: lease,
      });
      this.options.logger.info('released leadership');
    } catch (error) {
      this.options.logger.warn({ err: describeError(error) }, 'releasing the lease failed');
    }
  }

  private scheduleRenewal(onLost: () => void): void {
    this.timer = setTimeout(async () => {
      if (this.stopped) return;
      let renewed = false;
      try {
        renewed = await this.tryAcquireOrRenew();
      } catch (error) {
        this.options.logger.warn({ err: describeError(error) }, 'lease renewal failed');
      }
      if (renewed) this.lastRenewal = Date.now();
      if (Date.now() - this.lastRenewal > this.options.leaseDurationSeconds * 1000) {
        this.leading = false;
        this.options.logger.error('lost leadership: the lease was not renewed in time');
        onLost();
        return;
      }
      this.scheduleRenewal(onLost);
    }, this.options.retryPeriodMs);
  }

  /** Returns true when this process holds the lease after the call. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new V1MicroTime();
    const lease = await this.read();
    if (!lease) {
      try {
        await this.api.createNamespacedLease({
          namespace: this.options.namespace,
          body: {
            metadata: { name: this.options.leaseName, namespace: this.options.namespace },
            spec: this.spec(now, now, 0),
          },
        });
        return true;
      } catch (error) {
        if (error instanceof ApiException && error.code === 409) return false;
        throw error;
      }
    }

    const spec = lease.spec ?? {};
    const held = spec.holderIdentity === this.options.identity;
    const renewedAt = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
    const durationMs = (spec.leaseDurationSeconds ?? this.options.leaseDurationSeconds) * 1000;
    const expired = !spec.holderIdentity || renewedAt + durationMs < Date.now();
    if (!held && !expired) return false;

    const acquiredAt = held && spec.acquireTime ? new Date(spec.acquireTime) : now;
    const transitions = (spec.leaseTransitions ?? 0) + (held ? 0 : 1);
    lease.spec = this.spec(acquiredAt, now, transitions);
    try {
      await this.api.replaceNamespacedLease({
        namespace: this.options.namespace,
        name: this.options.leaseName,
        body: lease,
      });
      return true;
    } catch (error) {
      if (error instanceof ApiException && error.code === 409) return false;
      throw error;
    }
  }

  private spec(acquireTime: Date, renewTime: Date, leaseTransitions: number): V1Lease['spec'] {
    return {
      holderIdentity: this.options.identity,
      leaseDurationSeconds: this.options.leaseDurationSeconds,
      // The API server parses MicroTime with six fraction digits, which only V1MicroTime writes.
      acquireTime: new V1MicroTime(acquireTime.getTime()),
      renewTime: new V1MicroTime(renewTime.getTime()),
      leaseTransitions,
    };
  }

  private async read(): Promise<V1Lease | undefined> {
    try {
      return await this.api.readNamespacedLease({
        namespace: this.options.namespace,
        name: this.options.leaseName,
      });
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) return undefined;
      throw error;
    }
  }
}
