// Request reading for the emulator's HTTP layer: the call log's query record, the body with its
// size limit, and form and multipart parsing.

import type { IncomingMessage } from 'node:http';
import { badRequest, errorResponse, IscHttpError } from './errors.ts';

const maxBodyBytes = 10 * 1024 * 1024;

export function queryRecord(query: URLSearchParams): Record<string, string | string[]> {
  const record: Record<string, string | string[]> = {};
  for (const name of new Set(query.keys())) {
    const values = query
      .getAll(name)
      .map((value) => (name === 'client_secret' ? '[REDACTED]' : value));
    record[name] = values.length === 1 ? values[0]! : values;
  }
  return record;
}

export async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > maxBodyBytes) {
      throw new IscHttpError(
        413,
        errorResponse('413 Payload Too Large', [`The request body exceeds ${maxBodyBytes} bytes.`]),
        'request body too large',
      );
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export function mediaTypeOf(request: IncomingMessage): string {
  return (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

/** Parses a multipart body into string fields, reading file parts as UTF-8 text. */
export async function parseMultipart(
  raw: Buffer,
  contentType: string,
): Promise<Record<string, string>> {
  let form: FormData;
  try {
    form = await new Response(raw, { headers: { 'content-type': contentType } }).formData();
  } catch (error) {
    throw badRequest(`The multipart body could not be parsed: ${(error as Error).message}.`);
  }
  const fields: Record<string, string> = {};
  for (const [name, value] of form.entries()) {
    fields[name] = typeof value === 'string' ? value : await value.text();
  }
  return fields;
}

export function describeIssue(issue: { field: string; message: string }): string {
  if (issue.message === 'is required') return `The field "${issue.field}" is required.`;
  return `The field "${issue.field}" ${issue.message}.`;
}
