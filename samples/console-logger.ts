// A timestamped console logger with a level, for the samples: smtpwire's `logger` option takes it,
// and the sample's own lines go through it too. As text, or as one JSON object per line.

import { subscribe } from 'node:diagnostics_channel'
import { CHANNELS, type ConnectionCloseDiagnostic, type ConnectionOpenDiagnostic, type Logger, type SessionInfo } from '../lib/index.js'

/** The levels, quietest last. */
export const LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const
export type Level = (typeof LEVELS)[number]

/** How lines are written: `<ISO time> <level> <message>`, or a JSON object per line for log shippers. */
export type LogFormat = 'text' | 'json'

/** True for a level name. */
export function isLevel(text: string): text is Level {
  return (LEVELS as readonly string[]).includes(text)
}

/** True for a log format name. */
export function isLogFormat(text: string): text is LogFormat {
  return text === 'text' || text === 'json'
}

/** Writes lines at `level` and above to stdout, as text or JSON. */
export function consoleLogger(level: Level, format: LogFormat = 'text'): Logger {
  const floor = LEVELS.indexOf(level)
  const write = format === 'json' ? jsonWriter() : textWriter
  const logger = (bindings: Record<string, unknown>): Logger => {
    const at =
      (name: Exclude<Level, 'silent'>) =>
      (message: string): void => {
        if (LEVELS.indexOf(name) >= floor) process.stdout.write(write(name, message, bindings))
      }
    const methods: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
    // Only JSON lines have fields; as text, smtpwire puts `[id] ` before each session's lines.
    if (format === 'json') methods.child = (more) => logger({ ...bindings, ...more })
    return methods
  }
  return logger({})
}

function textWriter(level: string, message: string): string {
  return `${new Date().toISOString()} ${level} ${message}\n`
}

/**
 * `{"time","level","message","session","client"}` lines. The session id comes from the child
 * logger smtpwire makes per session, or a leading `[id] ` (the samples' own lines); the client
 * address from the session itself, learnt on the `smtpwire:connection:open` channel.
 */
function jsonWriter(): (level: string, message: string, bindings: Record<string, unknown>) => string {
  const sessions = new Map<string, SessionInfo>()
  subscribe(CHANNELS.connectionOpen, (message) => {
    const { session } = message as ConnectionOpenDiagnostic
    sessions.set(session.id, session)
  })
  // smtpwire logs its `closed (…)` line before it publishes the close, so that line still has its client.
  subscribe(CHANNELS.connectionClose, (message) => void sessions.delete((message as ConnectionCloseDiagnostic).session.id))
  return (level, message, bindings) => {
    const prefixed = /^\[([\w-]+)\] /.exec(message)
    const session = typeof bindings.session === 'string' ? bindings.session : prefixed?.[1]
    const line: Record<string, unknown> = { time: new Date().toISOString(), level, message: prefixed ? message.slice(prefixed[0].length) : message }
    if (session !== undefined) line.session = session
    const info = session === undefined ? undefined : sessions.get(session)
    if (info?.remoteAddress) line.client = `${info.remoteAddress.includes(':') ? `[${info.remoteAddress}]` : info.remoteAddress}:${info.remotePort}`
    return `${JSON.stringify({ ...line, ...bindings })}\n`
  }
}

/**
 * A logger whose lines wait until `release()`, then go to `inner` in order. The sample starts with
 * it so that its `smtpwire listening on` lines come first on stdout, before the start-up notices and
 * the library's own lines: whoever started the sample waits for that line.
 */
export function heldLogger(inner: Logger): { logger: Logger; release(): void } {
  let queue: Array<() => void> | null = []
  const wrap = (target: Logger): Logger => {
    const at =
      (level: 'debug' | 'info' | 'warn' | 'error') =>
      (message: string): void => {
        if (queue) queue.push(() => target[level](message))
        else target[level](message)
      }
    const methods: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
    const child = target.child?.bind(target)
    if (child) methods.child = (bindings) => wrap(child(bindings))
    return methods
  }
  return {
    logger: wrap(inner),
    release(): void {
      const waiting = queue ?? []
      queue = null
      for (const line of waiting) line()
    },
  }
}
