// Maps request paths to routes. ISC serves one operation under several version prefixes: the
// yearly `/v2025/accounts/{id}` and the per-service `/accounts/v1/{id}` that SailPoint is moving
// to. Both normalize to the spec template `/accounts/{id}`, and the token endpoint has no prefix.
//
// NOTE: per-service requests are validated against the v2025 schemas. The per-service specs
// (idn/apis/<service>/openapi.yaml in sailpoint-oss/api-specs) were not compared field by field.

import type { Route } from './route.ts';

/** Services whose per-service API (`/{service}/v1/...`) the emulator serves. */
export const perServiceFamilies = [
  'accounts',
  'sources',
  'identities',
  'identity-profiles',
  'task-status',
] as const;

export const yearlyVersion = 'v2025';

const unprefixedPaths = new Set(['/oauth/token']);

/**
 * Strips the version prefix from a request path. Returns undefined for a path outside every
 * supported family, for example `/v3/accounts` or `/beta/accounts`.
 */
export function normalizeApiPath(path: string): string | undefined {
  if (unprefixedPaths.has(path)) return path;
  const yearlyPrefix = `/${yearlyVersion}`;
  if (path.startsWith(`${yearlyPrefix}/`)) return path.slice(yearlyPrefix.length);
  for (const service of perServiceFamilies) {
    const prefix = `/${service}/v1`;
    if (path === prefix || path.startsWith(`${prefix}/`)) {
      return `/${service}${path.slice(prefix.length)}`;
    }
  }
  return undefined;
}

/** Returns the version family a path belongs to, for example `v2025` or `accounts/v1`. */
export function apiFamily(path: string): string {
  if (path.startsWith(`/${yearlyVersion}/`)) return yearlyVersion;
  const [, service, version] = path.split('/');
  return `${service}/${version}`;
}

interface CompiledRoute {
  route: Route;
  pattern: RegExp;
  parameterNames: string[];
}

export type RouteMatch =
  | { kind: 'found'; route: Route; params: Record<string, string> }
  | { kind: 'method-not-allowed'; allowed: string[] }
  | { kind: 'not-found' };

function compile(route: Route): CompiledRoute {
  const parameterNames: string[] = [];
  const source = route.template
    .split('/')
    .map((segment) => {
      const parameter = /^\{(.+)\}$/.exec(segment);
      if (!parameter) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      parameterNames.push(parameter[1]!);
      return '([^/]+)';
    })
    .join('/');
  return { route, pattern: new RegExp(`^${source}$`), parameterNames };
}

export class Router {
  readonly #routes: CompiledRoute[];

  constructor(routes: Route[]) {
    this.#routes = routes.map(compile);
  }

  /** Finds the route for a normalized path, with percent-decoded path parameters. */
  match(method: string, path: string): RouteMatch {
    const allowed: string[] = [];
    for (const compiled of this.#routes) {
      const match = compiled.pattern.exec(path);
      if (!match) continue;
      if (compiled.route.method !== method) {
        allowed.push(compiled.route.method);
        continue;
      }
      const params: Record<string, string> = {};
      compiled.parameterNames.forEach((name, index) => {
        params[name] = decodeURIComponent(match[index + 1]!);
      });
      return { kind: 'found', route: compiled.route, params };
    }
    return allowed.length > 0 ? { kind: 'method-not-allowed', allowed } : { kind: 'not-found' };
  }
}
