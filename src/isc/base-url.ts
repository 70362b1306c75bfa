/**
 * The rule for a tenant's base URL, shared by ISC_BASE_URL, the plan and export commands and
 * (restated in CEL) the Tenant CRD: https, or plain http only to a loopback address, because
 * every request carries the tenant's credential.
 */

/** Hosts that plain http may reach, as `URL.hostname` writes them. */
const loopbackHosts = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** Returns why `text` is not an acceptable tenant base URL, or undefined when it is. */
export function baseUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'is not a valid URL';
  }
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && loopbackHosts.has(url.hostname)) return undefined;
  return 'must use https (http only for 127.0.0.1, localhost or [::1])';
}
