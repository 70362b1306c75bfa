/**
 * Errors raised by the ISC client, sorted at the boundary so that the reconcile never inspects
 * HTTP status codes. It reads `kind` to decide whether to retry, wait, or stop.
 */

/** Reaction a failed ISC call calls for. */
export type IscErrorKind =
  /** Network failure, timeout, 429 or 5xx: retry with backoff (after `retryAfterMs` when set). */
  | 'transient'
  /** 401 after a fresh token: the credential is wrong or revoked. */
  | 'unauthorized'
  /** 403: the credential lacks a user level or scope. Retrying does not help. */
  | 'forbidden'
  /** 404: the object does not exist. Only this kind, or an empty complete list, means absent. */
  | 'not-found'
  /** 409: the tenant contains a conflicting object. */
  | 'conflict'
  /** Any other 4xx: the request itself is invalid. Retrying the same request does not help. */
  | 'invalid-request';

/** Fields ISC and its gateways put in error bodies, whichever shape the body had. */
export interface IscErrorDetail {
  detailCode?: string;
  trackingId?: string;
  messages: string[];
}

export class IscApiError extends Error {
  readonly status: number;
  readonly method: string;
  readonly path: string;
  readonly detail: IscErrorDetail;
  readonly retryAfterMs: number | undefined;
  /** Source of the client's credential, such as `Secret ns/name`, when the caller gave one. */
  readonly credential: string | undefined;

  constructor(init: {
    status: number;
    method: string;
    path: string;
    detail: IscErrorDetail;
    retryAfterMs?: number;
    credential?: string | undefined;
  }) {
    const summary = init.detail.messages[0] ?? init.detail.detailCode ?? 'no message';
    super(`ISC ${init.method} ${init.path} failed with HTTP ${init.status}: ${summary}`);
    this.name = 'IscApiError';
    this.status = init.status;
    this.method = init.method;
    this.path = init.path;
    this.detail = init.detail;
    this.retryAfterMs = init.retryAfterMs;
    this.credential = init.credential;
  }

  get kind(): IscErrorKind {
    return kindForStatus(this.status);
  }
}

/** A request that got no HTTP answer: connection refused or reset, DNS failure, timeout. */
export class IscNetworkError extends Error {
  readonly method: string;
  readonly path: string;
  readonly code: string | undefined;
  readonly kind: IscErrorKind = 'transient';

  constructor(method: string, path: string, cause: unknown) {
    const code = (cause as { code?: string } | undefined)?.code;
    super(`ISC ${method} ${path} failed without a response: ${code ?? describe(cause)}`, { cause });
    this.name = 'IscNetworkError';
    this.method = method;
    this.path = path;
    this.code = code;
  }
}

/** A lookup that must find at most one object found several, so the tenant contains duplicates. */
export class IscAmbiguousError extends Error {
  readonly kind: IscErrorKind = 'conflict';

  constructor(what: string, ids: string[]) {
    super(`ISC holds ${ids.length} ${what}, expected at most one: ${ids.join(', ')}`);
    this.name = 'IscAmbiguousError';
  }
}

/** An ISC task that did not complete before the caller's deadline. */
export class IscTaskTimeoutError extends Error {
  readonly kind: IscErrorKind = 'transient';
  readonly taskId: string;

  constructor(taskId: string, waitedMs: number) {
    super(`ISC task ${taskId} did not complete within ${Math.round(waitedMs / 1000)} s`);
    this.name = 'IscTaskTimeoutError';
    this.taskId = taskId;
  }
}

export type IscError = IscApiError | IscNetworkError;

export function isIscError(error: unknown): error is IscError {
  return error instanceof IscApiError || error instanceof IscNetworkError;
}

export function kindForStatus(status: number): IscErrorKind {
  if (status === 429 || status >= 500) return 'transient';
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not-found';
  if (status === 409) return 'conflict';
  return 'invalid-request';
}

/**
 * Parses any error body ISC or a gateway in front of it sends: the documented ErrorResponseDto
 * (`detailCode`, `trackingId`, `messages[].text`), `{"error": ...}` from the token layer,
 * `{"message": ...}` on 429, `{errorName, errorMessage}` on 409, a bare `detailMessage`, an HTML
 * page or nothing. Never throws.
 */
export function parseIscErrorBody(body: string | undefined): IscErrorDetail {
  const text = (body ?? '').trim();
  if (text === '') return { messages: [] };

  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { messages: [summarizeText(text)] };
  }
  if (typeof parsed !== 'object' || parsed === null) return { messages: [summarizeText(text)] };

  const record = parsed as Record<string, unknown>;
  const messages: string[] = [];
  if (Array.isArray(record.messages)) {
    for (const message of record.messages) {
      const messageText = (message as { text?: unknown } | null)?.text;
      if (typeof messageText === 'string') messages.push(messageText.trim());
    }
  }
  for (const key of ['detailMessage', 'errorMessage', 'message', 'error_description', 'error']) {
    const value = record[key];
    if (typeof value === 'string' && value.trim() !== '') messages.push(value.trim());
  }

  const detail: IscErrorDetail = { messages };
  if (typeof record.detailCode === 'string') detail.detailCode = record.detailCode;
  if (typeof record.trackingId === 'string') detail.trackingId = record.trackingId;
  if (detail.detailCode === undefined && typeof record.errorName === 'string') {
    detail.detailCode = record.errorName;
  }
  return detail;
}

/** Reduces an HTML gateway page or long text to one short line. */
function summarizeText(text: string): string {
  const title = /<title>([^<]*)<\/title>/i.exec(text)?.[1];
  const plain = (title ?? text.replace(/<[^>]*>/g, ' ')).replace(/\s+/g, ' ').trim();
  return plain.length > 200 ? `${plain.slice(0, 200)}...` : plain;
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
