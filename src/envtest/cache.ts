import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Returns the directory that caches built binaries across clones of this repository:
 * `${XDG_CACHE_HOME:-$HOME/.cache}/isc-sa-operator`.
 */
export function defaultCacheRoot(): string {
  const xdgCacheHome = process.env.XDG_CACHE_HOME;
  const base =
    xdgCacheHome !== undefined && xdgCacheHome !== '' ? xdgCacheHome : join(homedir(), '.cache');
  return join(base, 'isc-sa-operator');
}
