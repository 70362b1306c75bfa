/**
 * Progress of long reads, such as "reading accounts 250/1000", on one terminal line of stderr.
 * Nothing is written unless the stream is a TTY, so logs, pipes and CI output stay clean.
 */

/** The part of a writable stream progress needs; `process.stderr` is one. */
export interface ProgressStream {
  isTTY?: boolean;
  write(text: string): unknown;
}

export interface Progress {
  /** Shows `label done/total` (or `label done` without a total) in place of the last update. */
  update(label: string, done: number, total?: number): void;
  /** Clears the progress line, so the next output starts on an empty line. */
  end(): void;
}

const silent: Progress = { update: () => {}, end: () => {} };

/** Returns a progress line on `stream` when it is a TTY, else a progress that writes nothing. */
export function createProgress(stream: ProgressStream | undefined): Progress {
  if (!stream?.isTTY) return silent;
  let shown = false;
  return {
    update(label, done, total) {
      // Carriage return and "erase to end of line" redraw the same line on every update.
      stream.write(`\r${label} ${total === undefined ? done : `${done}/${total}`}\u001b[K`);
      shown = true;
    },
    end() {
      if (shown) stream.write('\r\u001b[K');
      shown = false;
    },
  };
}
