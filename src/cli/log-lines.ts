/**
 * Log output of the review commands: the ISC client logs pino JSON lines, which a person at a
 * terminal should not have to decode, so each line is rewritten as one line of text.
 */
import type { DestinationStream } from 'pino';

const levelLabels: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warning',
  50: 'error',
  60: 'fatal',
};

/** Fields every pino line carries, which the text line leaves out. */
const envelopeFields = new Set(['level', 'time', 'msg', 'name', 'pid', 'hostname']);

/**
 * Rewrites one pino JSON line as `<command>: <level>: <message> (key=value, ...)`. A line that
 * is not JSON passes through unchanged.
 */
export function formatLogLine(command: string, line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const level = levelLabels[entry.level as number] ?? String(entry.level);
  const fields = Object.entries(entry)
    .filter(([name]) => !envelopeFields.has(name))
    .map(([name, value]) => `${name}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  const details = fields.length > 0 ? ` (${fields.join(', ')})` : '';
  return `${command}: ${level}: ${String(entry.msg ?? '')}${details}\n`;
}

/** Returns a pino destination that writes each line as text through `write`. */
export function textLogDestination(
  command: string,
  write: (text: string) => void,
): DestinationStream {
  return { write: (line: string) => write(formatLogLine(command, line.trimEnd())) };
}
