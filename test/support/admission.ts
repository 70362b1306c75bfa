import { ApiException } from '@kubernetes/client-node';
import * as assert from 'uvu/assert';

/**
 * Returns the API server's rejection message, or undefined when it accepted the request.
 * Only 422 (schema and CEL violations) and 400 (unknown fields under strict field validation)
 * count as rejections at admission; any other failure fails the calling test.
 */
export async function admissionRejection(
  action: () => Promise<unknown>,
): Promise<string | undefined> {
  try {
    await action();
    return undefined;
  } catch (error) {
    if (!(error instanceof ApiException)) throw error;
    assert.ok([400, 422].includes(error.code), `expected 400 or 422, got ${error.code}`);
    return typeof error.body === 'string' ? error.body : JSON.stringify(error.body);
  }
}
