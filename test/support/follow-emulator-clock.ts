/**
 * Test-only preload for the operator process (`node --import`): the process reads time from
 * the ISC emulator's tenant clock, so a test that moves that clock forward with
 * `POST /__admin/clock` moves the operator's clock too. `Date.now()` and `new Date()` return
 * the emulator's time, synchronized every 100 ms from `GET /__admin/clock` at
 * `TEST_EMULATOR_CLOCK_URL`; timers and `performance.now()` keep running in real time. The
 * operator's own code has no clock setting: this file replaces `Date` before it loads.
 */
const clockUrl = process.env.TEST_EMULATOR_CLOCK_URL;
if (!clockUrl) throw new Error('TEST_EMULATOR_CLOCK_URL is not set');

const SystemDate = Date;
let offsetMs = 0;

class EmulatorDate extends SystemDate {
  constructor(...args: unknown[]) {
    if (args.length === 0) super(SystemDate.now() + offsetMs);
    else super(...(args as [string | number | Date]));
  }

  static override now(): number {
    return SystemDate.now() + offsetMs;
  }
}

async function synchronize(): Promise<void> {
  const response = await fetch(clockUrl!);
  const { now } = (await response.json()) as { now: string };
  offsetMs = SystemDate.parse(now) - SystemDate.now();
}

globalThis.Date = EmulatorDate as DateConstructor;
await synchronize();
setInterval(() => {
  synchronize().catch(() => {
    // The emulator stops before the operator at the end of a test; the last offset stays.
  });
}, 100).unref();
