// Reading the operator's Prometheus text output, the emulator's call log and /proc.

import { readFile } from 'node:fs/promises';
import type { CallRecord } from '../src/emulator/server.ts';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition format into samples; comments and blank lines are skipped. */
export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]!] = pair[2]!;
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

export function sumOf(samples: Sample[], name: string, filter: Record<string, string> = {}) {
  return samples
    .filter((s) => s.name === name)
    .filter((s) => Object.entries(filter).every(([key, value]) => s.labels[key] === value))
    .reduce((total, s) => total + s.value, 0);
}

/**
 * Estimates a quantile of a histogram summed over all its label sets, by linear interpolation
 * inside the bucket that contains it, as PromQL's histogram_quantile does. Returns undefined for
 * an empty histogram, and the largest finite bound when the quantile falls in the +Inf bucket.
 */
export function histogramQuantile(
  samples: Sample[],
  name: string,
  quantile: number,
): number | undefined {
  const cumulative = new Map<number, number>();
  for (const sample of samples) {
    if (sample.name !== `${name}_bucket`) continue;
    const bound = sample.labels.le === '+Inf' ? Infinity : Number(sample.labels.le);
    cumulative.set(bound, (cumulative.get(bound) ?? 0) + sample.value);
  }
  const buckets = [...cumulative.entries()].sort(([a], [b]) => a - b);
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return undefined;
  const rank = quantile * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [bound, count] of buckets) {
    if (count >= rank) {
      if (bound === Infinity) return lowerBound;
      const share = count === lowerCount ? 0 : (rank - lowerCount) / (count - lowerCount);
      return lowerBound + (bound - lowerBound) * share;
    }
    lowerBound = bound;
    lowerCount = count;
  }
  return lowerBound;
}

/** ISC calls split the way the targets count them. */
export interface CallCounts {
  total: number;
  reads: number;
  writes: number;
  /** POST /oauth/token, counted in `total` but neither a read nor a write of tenant data. */
  tokens: number;
  /** Responses with status 429, counted in the totals above. */
  rateLimited: number;
  byOperation: Record<string, number>;
}

export function countCalls(calls: readonly CallRecord[]): CallCounts {
  const counts: CallCounts = {
    total: 0,
    reads: 0,
    writes: 0,
    tokens: 0,
    rateLimited: 0,
    byOperation: {},
  };
  for (const call of calls) {
    counts.total++;
    if (call.status === 429) counts.rateLimited++;
    const operation = call.operationId ?? `${call.method} ${call.path}`;
    counts.byOperation[operation] = (counts.byOperation[operation] ?? 0) + 1;
    if (call.path.endsWith('/oauth/token')) counts.tokens++;
    else if (call.method === 'GET') counts.reads++;
    else counts.writes++;
  }
  return counts;
}

/**
 * Minimum time ISC's gateway limit allows for these calls: the limit applies per client id and API
 * family (the token endpoint is its own family), so the busiest family sets the floor.
 */
export function rateLimitFloorSeconds(
  calls: readonly CallRecord[],
  limit = { requests: 100, windowSeconds: 10 },
): number {
  const perFamily = new Map<string, number>();
  for (const call of calls) {
    const family = call.path.endsWith('/oauth/token')
      ? `${call.clientId} oauth/token`
      : `${call.clientId} ${call.path.split('/')[1]}`;
    perFamily.set(family, (perFamily.get(family) ?? 0) + 1);
  }
  const busiest = Math.max(0, ...perFamily.values());
  return (busiest / limit.requests) * limit.windowSeconds;
}

/** Reads VmRSS and VmHWM (peak RSS) of a process from /proc, in bytes; undefined once it exited. */
export async function readProcessMemory(
  pid: number,
): Promise<{ rssBytes: number; peakRssBytes: number } | undefined> {
  let status: string;
  try {
    status = await readFile(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kilobytes = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssBytes: kilobytes('VmRSS') * 1024, peakRssBytes: kilobytes('VmHWM') * 1024 };
}
