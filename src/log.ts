import { type DestinationStream, type Logger, pino } from 'pino';

/**
 * Field names whose values are replaced before a line is written. Code should never log these
 * fields; the redaction catches the mistake instead of relying on review.
 */
const redactedPaths = [
  'clientSecret',
  'client_secret',
  'accessToken',
  'access_token',
  'authorization',
  'password',
  'secret',
  'token',
  '*.clientSecret',
  '*.client_secret',
  '*.accessToken',
  '*.access_token',
  '*.authorization',
  '*.password',
  '*.secret',
  '*.token',
  'headers.authorization',
  '*.headers.authorization',
];

/** Creates the process's root logger: JSON lines, one child per component and per reconcile. */
export function createLogger(
  options: { level?: string; name?: string } = {},
  destination?: DestinationStream,
): Logger {
  return pino(
    {
      name: options.name ?? 'isc-sa-operator',
      level: options.level ?? process.env.LOG_LEVEL ?? 'info',
      redact: { paths: redactedPaths, censor: '[redacted]' },
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
