// Heap snapshot summary: node bench/heap-summary.ts FILE.heapsnapshot [--top 25] [--json OUT]
//
// Groups the objects of a V8 heap snapshot (as written by --heapsnapshot-signal or
// v8.writeHeapSnapshot) by kind and constructor. It prints the groups with the largest total
// own size, so that a large heap can be attributed without a browser's developer tools. Own
// size counts an object's own cells, not what it keeps alive. Strings and arrays are counted
// where they are allocated, so a cache of plain objects shows up as `object Object` plus the
// strings and property arrays of its entries.

import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export interface HeapGroup {
  group: string;
  count: number;
  bytes: number;
}

/** Totals of own size per kind and constructor, largest first. */
export function summarizeHeap(snapshot: HeapSnapshot): { totalBytes: number; groups: HeapGroup[] } {
  const fields = snapshot.snapshot.meta.node_fields;
  const kinds = snapshot.snapshot.meta.node_types[0];
  const stride = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const groups = new Map<string, HeapGroup>();
  let totalBytes = 0;
  for (let offset = 0; offset < snapshot.nodes.length; offset += stride) {
    const kind = kinds[snapshot.nodes[offset + typeAt]!] ?? 'unknown';
    const bytes = snapshot.nodes[offset + sizeAt]!;
    totalBytes += bytes;
    // Strings and numbers are grouped by kind only: their "name" is their content.
    const named = kind === 'object' || kind === 'closure' || kind === 'native' || kind === 'hidden';
    const group = named ? `${kind} ${snapshot.strings[snapshot.nodes[offset + nameAt]!]}` : kind;
    const entry = groups.get(group) ?? { group, count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += bytes;
    groups.set(group, entry);
  }
  return { totalBytes, groups: [...groups.values()].sort((a, b) => b.bytes - a.bytes) };
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '25' }, json: { type: 'string' } },
  });
  const file = positionals[0];
  if (!file) {
    console.error('usage: node bench/heap-summary.ts FILE.heapsnapshot [--top 25] [--json OUT]');
    process.exit(2);
  }
  const { totalBytes, groups } = summarizeHeap(JSON.parse(readFileSync(file, 'utf8')));
  const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
  const top = groups.slice(0, Number(values.top));
  console.log(`${mib(totalBytes)} MiB in ${groups.length} groups`);
  for (const entry of top) {
    console.log(
      `${mib(entry.bytes).padStart(8)} MiB ${String(entry.count).padStart(9)}  ${entry.group}`,
    );
  }
  if (values.json) {
    writeFileSync(values.json, `${JSON.stringify({ totalBytes, groups: top }, null, 2)}\n`);
  }
}
