import { ApiException } from '@kubernetes/client-node';
import { describeError } from '../errors.ts';
import { IscAmbiguousError, IscApiError, isIscError } from '../isc/errors.ts';
import { TenantConfigurationError } from './tenant.ts';

/** Controller reaction to an error a reconcile threw. */
export type Failure =
  /** Kubernetes optimistic-lock conflict: retry at once, quietly. */
  | { kind: 'conflict' }
  /** May pass on its own (outage, rate limit): retry with per-resource backoff. */
  | { kind: 'transient'; reason: string; message: string; retryAfterMs?: number }
  /** Needs a person: report, and retry only rarely. */
  | { kind: 'terminal'; reason: string; message: string };

/** Sorts any error from a reconcile into a failure kind with a stable CamelCase reason. */
export function classifyFailure(error: unknown): Failure {
  if (error instanceof ApiException && error.code === 409) return { kind: 'conflict' };
  if (error instanceof IscAmbiguousError) {
    return { kind: 'terminal', reason: 'DuplicateInIsc', message: error.message };
  }
  if (error instanceof TenantConfigurationError) {
    return { kind: 'terminal', reason: error.reason, message: error.message };
  }
  if (isIscError(error)) {
    switch (error.kind) {
      case 'transient':
        return {
          kind: 'transient',
          reason: 'IscUnavailable',
          message: error.message,
          ...(error instanceof IscApiError && error.retryAfterMs !== undefined
            ? { retryAfterMs: error.retryAfterMs }
            : {}),
        };
      case 'unauthorized': {
        // Credentials are often rotated while the operator runs, so keep retrying with backoff.
        const credential = error instanceof IscApiError ? error.credential : undefined;
        return {
          kind: 'transient',
          reason: 'Unauthorized',
          message:
            credential === undefined
              ? `${error.message}; check the ISC client id and secret`
              : `${error.message}; check the ISC client id and secret in ${credential}`,
        };
      }
      case 'forbidden':
        return {
          kind: 'terminal',
          reason: 'Forbidden',
          message: `${error.message}; the credential's user level or scopes do not allow this call`,
        };
      case 'not-found':
      case 'conflict':
        return { kind: 'transient', reason: 'IscConflict', message: error.message };
      case 'invalid-request':
        return { kind: 'terminal', reason: 'IscRejected', message: error.message };
    }
  }
  if (error instanceof ApiException) {
    return { kind: 'transient', reason: 'KubernetesApiError', message: describeError(error) };
  }
  return { kind: 'transient', reason: 'InternalError', message: describeError(error) };
}
