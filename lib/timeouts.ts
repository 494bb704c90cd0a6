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

/**
 * One idle clock (command or data, restarted as the engine says) and one whole-session clock.
 *
 * The idle clock is a timer per kind, made once and restarted in place with `refresh()`: a message
 * switches from command to data and back, and a new timer (and a clear) per switch showed in
 * profiles of many small messages. A timer of the kind not awaited now may still fire; it is
 * ignored, and a later `refresh()` arms it again. Each timer, when it counts, was (re)started at
 * the same moments a new one would have been, so the limits fire exactly when they did.
 */
export class SessionTimers {
  private commandTimer: ReturnType<typeof setTimeout> | null = null
  private dataTimer: ReturnType<typeof setTimeout> | null = null
  /** The kind awaited now, whose timer counts; null while none does (paused, or its limit is 0). */
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
    if (this.idleKind === kind && !progress) return
    this.idleKind = kind
    if (kind === 'data') {
      if (this.dataTimer) this.dataTimer.refresh()
      else this.dataTimer = this.timer(kind, ms)
    } else if (this.commandTimer) {
      this.commandTimer.refresh()
    } else {
      this.commandTimer = this.timer(kind, ms)
    }
  }

  /** The server itself is busy (a listener is deciding): the client is not idle. */
  pause(): void {
    this.idleKind = null
  }

  /** Stops every clock (the session ended). */
  stop(): void {
    this.idleKind = null
    if (this.commandTimer) clearTimeout(this.commandTimer)
    if (this.dataTimer) clearTimeout(this.dataTimer)
    this.commandTimer = this.dataTimer = null
    if (this.whole) clearTimeout(this.whole)
    this.whole = null
  }

  private timer(what: Expiry, ms: number): ReturnType<typeof setTimeout> {
    const timer = setTimeout(() => {
      // An idle timer counts only while its kind is awaited.
      if (what === 'session' || what === this.idleKind) this.expired(what)
    }, ms)
    // Connections keep the process alive, not their clocks.
    timer.unref?.()
    return timer
  }
}
