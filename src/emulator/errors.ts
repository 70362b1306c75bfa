// Error responses in the shapes ISC sends. Most statuses carry an ErrorResponseDto, but 401 and 429
// use the gateway's own small bodies, as SailPoint's v2025 spec declares them.

import { randomBytes } from 'node:crypto';

export interface ErrorMessage {
  locale: string | null;
  localeOrigin: 'DEFAULT' | 'REQUEST' | null;
  text: string;
}

export interface ErrorResponseDto {
  detailCode: string;
  trackingId: string;
  messages: ErrorMessage[];
  causes: ErrorMessage[];
}

/** An error a handler raises to end the request with `status` and `body`. */
export class IscHttpError extends Error {
  override name = 'IscHttpError';
  readonly status: number;
  readonly body: unknown;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    body: unknown,
    message: string,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

export function newTrackingId(): string {
  return randomBytes(16).toString('hex');
}

function englishMessage(text: string): ErrorMessage {
  return { locale: 'en-US', localeOrigin: 'DEFAULT', text };
}

export function errorResponse(detailCode: string, texts: string[]): ErrorResponseDto {
  return {
    detailCode,
    trackingId: newTrackingId(),
    messages: texts.map(englishMessage),
    causes: [],
  };
}

function dtoError(status: number, detailCode: string, texts: string[]): IscHttpError {
  return new IscHttpError(status, errorResponse(detailCode, texts), texts.join(' '));
}

export function badRequest(...texts: string[]): IscHttpError {
  return dtoError(400, '400.1 Bad Request Content', texts);
}

/** Creates the 400 for a change to an immutable field, for example a source's `connector`. */
export function illegalUpdate(...texts: string[]): IscHttpError {
  return dtoError(400, '400.1.1 Illegal update attempt', texts);
}

export function forbidden(text: string): IscHttpError {
  return dtoError(403, '403 Forbidden', [text]);
}

export function notFound(kind: string, id: string): IscHttpError {
  return dtoError(404, '404 Not found', [`${kind} with id "${id}" was not found.`]);
}

export function routeNotFound(method: string, path: string): IscHttpError {
  return dtoError(404, '404 Not found', [`No operation matches ${method} ${path}.`]);
}

// NOTE: the v2025 spec documents no body for 405 and 415. These detail codes follow the pattern
// of the documented ones and are not verified against a live tenant.
export function methodNotAllowed(method: string, path: string): IscHttpError {
  return dtoError(405, '405 Method Not Allowed', [`Method ${method} is not allowed on ${path}.`]);
}

export function unsupportedMediaType(received: string, expected: string): IscHttpError {
  return dtoError(415, '415 Unsupported Media Type', [
    `Content type "${received || '(none)'}" is not supported; send "${expected}".`,
  ]);
}

export function unauthorized(reason: string): IscHttpError {
  return new IscHttpError(401, { error: `JWT validation failed: ${reason}` }, reason);
}

export function internalFault(text: string): IscHttpError {
  return dtoError(500, '500.0 Internal Fault', [text]);
}
