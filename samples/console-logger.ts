// A timestamped console logger with a level, for the samples: smtpwire's `logger` option takes it,
// and the sample's own lines go through it too.

import type { Logger } from '../lib/index.js'

/** The levels, quietest last. */
export const LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const
export type Level = (typeof LEVELS)[number]

/** True for a level name. */
export function isLevel(text: string): text is Level {
  return (LEVELS as readonly string[]).includes(text)
}

/** Writes lines at `level` and above to stdout as `<ISO time> <level> <message>`. */
export function consoleLogger(level: Level): Logger {
  const floor = LEVELS.indexOf(level)
  const at =
    (name: Exclude<Level, 'silent'>) =>
    (message: string): void => {
      if (LEVELS.indexOf(name) >= floor) process.stdout.write(`${new Date().toISOString()} ${name} ${message}\n`)
    }
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}
