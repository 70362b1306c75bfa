import { pino } from 'pino';

/** Subset of a pino logger that the envtest code uses, so callers can pass a child logger. */
export type EnvtestLogger = Pick<pino.Logger, 'debug' | 'info' | 'warn' | 'error'>;

/** Creates the logger used when the caller passes none: JSON lines on stderr, level info. */
export function createDefaultLogger(): EnvtestLogger {
  return pino(
    { name: 'envtest', level: process.env.LOG_LEVEL ?? 'info' },
    pino.destination({ dest: 2, sync: true }),
  );
}
