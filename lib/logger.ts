// The logger smtpwire writes to (console, pino, or anything with the four methods), and the
// per-session view that puts the session id on every line. No I/O of its own.

/** What smtpwire needs from a logger; `console` and pino both fit. */
export interface Logger {
  /** The wire trace, one line per command or reply line, when the `trace` option is on. */
  debug(message: string): void
  /** Connections opened and closed, TLS up, listening addresses, shutdown. */
  info(message: string): void
  /** Timeouts, failed TLS handshakes, connections refused or dropped by the server. */
  warn(message: string): void
  /** A listener that threw something other than an `SmtpError`. */
  error(message: string): void
  /** pino-style child loggers, used when present so the session id becomes a field. */
  child?(bindings: Record<string, unknown>): Logger
}

/** A logger that drops everything. */
export const SILENT: Logger = { debug() {}, info() {}, warn() {}, error() {} }

/**
 * True unless `log` drops everything: callers skip building a message nobody reads (a template
 * string per connection or message shows up in profiles of many small sessions).
 */
export function isLogging(log: Logger): boolean {
  return log !== SILENT
}

/** `logger` for one session: a pino child with `{ session: id }`, else `[id] ` before each line. */
export function sessionLogger(logger: Logger, id: string): Logger {
  if (logger === SILENT) return logger
  if (typeof logger.child === 'function') return logger.child({ session: id })
  const prefix = `[${id}] `
  return {
    debug: (message) => logger.debug(prefix + message),
    info: (message) => logger.info(prefix + message),
    warn: (message) => logger.warn(prefix + message),
    error: (message) => logger.error(prefix + message),
  }
}

/** A command line as the wire trace shows it: AUTH data replaced by `***`. */
export function redactCommand(line: string): string {
  const auth = /^(AUTH\s+\S+)\s+\S.*$/i.exec(line)
  return auth ? `${auth[1]} ***` : line
}
