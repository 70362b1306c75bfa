import { ApiException } from '@kubernetes/client-node';

/**
 * Returns a one-line description of an error for logs and status messages. A Kubernetes
 * ApiException's own message embeds the whole response with headers, so only its code and the
 * Status message are kept.
 */
export function describeError(error: unknown): string {
  if (error instanceof ApiException) {
    const body = parseBody(error.body);
    const reason = typeof body?.reason === 'string' ? ` ${body.reason}` : '';
    const message = typeof body?.message === 'string' ? `: ${body.message}` : '';
    return `Kubernetes API returned HTTP ${error.code}${reason}${message}`;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

function parseBody(body: unknown): Record<string, unknown> | undefined {
  if (typeof body === 'object' && body !== null) return body as Record<string, unknown>;
  if (typeof body !== 'string') return undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === 'object' && parsed !== null
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
