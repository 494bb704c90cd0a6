// The session's clocks (RFC 5321 §4.5.3.2): how long to wait for a command line, for more message
// data, and for the whole session. The engine says what it is waiting for; this says when to stop.

/** What the session is waiting for from the client. */
export type IdleKind = 'command' | 'data'

/** Which limit ran out. */
export type Expiry = IdleKind | 'session'

interface Limits {
  readonly commandTimeout: number
  readonly dataTimeout: number
  readonly sessionTimeout: number
}

/** One idle timer (command or data, restarted as the engine says) and one whole-session timer. */
export class SessionTimers {
  private idle: ReturnType<typeof setTimeout> | null = null
  private idleKind: IdleKind | null = null
  private whole: ReturnType<typeof setTimeout> | null = null
  /** Whole command lines (and input-mode changes) so far: what restarts the command timer. */
  private progress = 0
  private progressAtTimer = -1

  constructor(
    private readonly limits: Limits,
    private readonly expired: (what: Expiry) => void,
  ) {}

  /** Starts the whole-session clock. */
  start(): void {
    if (this.limits.sessionTimeout > 0 && !this.whole) this.whole = this.timer('session', this.limits.sessionTimeout)
  }

  /** The client delivered a whole command line, or the input mode changed. */
  progressed(): void {
    this.progress++
  }

  /** Waits for `kind` after a read: data restarts the data timer, a command line the command timer. */
  armFor(kind: IdleKind, dataArrived: boolean): void {
    const progress = kind === 'data' ? dataArrived : this.progress !== this.progressAtTimer
    this.progressAtTimer = this.progress
    this.waitFor(kind, progress)
  }

  /**
   * Waits for `kind`. The timer restarts when the kind changes, when none was running, or when
   * `progress` says the client delivered what was awaited (a whole command line, or any data).
   */
  waitFor(kind: IdleKind, progress: boolean): void {
    const ms = kind === 'data' ? this.limits.dataTimeout : this.limits.commandTimeout
    if (ms === 0) return this.pause()
    if (this.idle && this.idleKind === kind) {
      // Restarting the running timer in place is cheaper than a new one (this runs on every read).
      if (progress) this.idle.refresh()
      return
    }
    this.pause()
    this.idleKind = kind
    this.idle = this.timer(kind, ms)
  }

  /** The server itself is busy (a listener is deciding): the client is not idle. */
  pause(): void {
    if (this.idle) clearTimeout(this.idle)
    this.idle = null
    this.idleKind = null
  }

  /** Stops every clock (the session ended). */
  stop(): void {
    this.pause()
    if (this.whole) clearTimeout(this.whole)
    this.whole = null
  }

  private timer(what: Expiry, ms: number): ReturnType<typeof setTimeout> {
    const timer = setTimeout(() => this.expired(what), ms)
    // Connections keep the process alive, not their clocks.
    timer.unref?.()
    return timer
  }
}
