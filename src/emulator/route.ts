// The contract between the emulator's HTTP layer (server.ts) and its route handlers (routes/).

import type { IncomingHttpHeaders } from 'node:http';
import type { TokenClaims } from './auth.ts';
import type { ListPolicy } from './collection.ts';
import type { TenantState } from './state.ts';

export interface RouteRequest {
  /** Path parameters by the names used in the route template. */
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /**
   * Parsed body: JSON for JSON media types, an object of string fields for form and multipart
   * bodies (files as their text), or null when the operation takes no body.
   */
  body: unknown;
  /** Claims of the verified bearer token, or null on routes that need no token. */
  claims: TokenClaims | null;
  state: TenantState;
  /** Order and lag of list responses. */
  listing: ListPolicy;
}

export interface RouteResponse {
  status: number;
  /** Body, sent as JSON unless `contentType` is set. Undefined sends no body. */
  body?: unknown;
  /** Media type of a text body, for example `text/csv`, in which case the body is a string. */
  contentType?: string;
  headers?: Record<string, string>;
}

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path below the version prefix, in the spec's template syntax, for example `/accounts/{id}`. */
  template: string;
  /** operationId in the v2025 or oauth spec, which selects the request and response schemas. */
  operationId: string;
  /** False only for the token endpoint, which authenticates with client credentials instead. */
  requiresToken: boolean;
  /**
   * True when the operation also takes its fields as query parameters, so an empty body is
   * allowed although the spec marks the body required (the token endpoint, per SailPoint's docs).
   */
  bodyOptional?: boolean;
  handle(request: RouteRequest): RouteResponse;
}
