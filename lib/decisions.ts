// Asking listeners and settling their answers for one session: the processing gate, synchronous
// settling when no listener returned a Promise, the listener timeout, work tracked for `settled()`,
// and listener errors reported (on `error`, or to process warnings when nobody can hear them).
// Knows nothing of input or replies: the engine says what a pending decision means for the loop.

import { decisionChannel } from './diagnostics.js'
import { SmtpwireError } from './errors.js'
import { combine, NO_ANSWERS, unexpectedErrors, type DecisionEvents, type Listeners, type NoticeEvents, type Settled, type SmtpEvents } from './events.js'
import type { Release } from './gate.js'
import { SILENT, type Logger } from './logger.js'
import type { ResolvedOptions } from './options.js'
import type { SessionInfo } from './session-info.js'

/** What decisions need from the session that runs them. */
export interface DecisionOwner {
  readonly sessionInfo: SessionInfo
  readonly log: Logger
  /** True once the session ended: nobody is asked anything more. */
  isClosed(): boolean
  /** A decision is pending (or waits for a processing slot): input must stop. */
  hold(): void
  /** The pending decision settled (or got its slot), whether or not the session is still open. */
  release(): void
  /** The pending decision settled and the session is open: run `then` (guarded) and restart input. */
  resume(then: () => void): void
  /** A bug in smtpwire itself, surfaced from a Promise chain. */
  internalError(error: unknown): void
}

/** The listener side of one session. */
export class Decisions {
  /** Listener Promises not yet settled; made at the first (most sessions never return one). */
  private pendingWork: Set<Promise<unknown>> | null = null
  /** The processing slot the pending decision holds: given back when the session closes, whatever the listener does. */
  private heldSlot: Release | null = null
  /** `listenerTimeout` for the pending decision. */
  private decisionTimer: ReturnType<typeof setTimeout> | null = null
  private closeNotified = false

  constructor(
    private readonly options: ResolvedOptions,
    private readonly listeners: Listeners,
    private readonly owner: DecisionOwner,
  ) {}

  /** True when event K has listeners. */
  has(event: keyof DecisionEvents | keyof NoticeEvents): boolean {
    return this.listeners.count(event) > 0
  }

  /**
   * Asks the listeners of a decision event. `then` runs with their results at once when all
   * answered synchronously, else later (the owner holds input meanwhile). Errors that are not
   * SmtpErrors are reported before `then` runs.
   */
  decide<K extends keyof DecisionEvents>(event: K, payload: DecisionEvents[K], then: (settled: readonly Settled[]) => void): void {
    // A closed session asks nobody anything (a listener may have closed it mid-command).
    if (this.owner.isClosed()) return
    // Nobody to ask (most events, for most servers): the empty answer at once, with no processing
    // slot, no dispatch, nothing to observe or report.
    if (this.listeners.count(event) === 0) return then(NO_ANSWERS)
    const gate = this.options.gate
    if (!gate) return this.dispatch(event, payload, then, null)
    const slot = gate.tryAcquire()
    if (slot) return this.dispatch(event, payload, then, slot)
    // maxProcessing: wait in line for a slot; no input is read meanwhile.
    this.owner.hold()
    void gate.acquire().then((release) => {
      this.owner.release()
      if (this.owner.isClosed()) return release()
      this.owner.resume(() => this.dispatch(event, payload, then, release))
    })
  }

  private dispatch<K extends keyof DecisionEvents>(
    event: K,
    payload: DecisionEvents[K],
    then: (settled: readonly Settled[]) => void,
    release: Release | null,
  ): void {
    const start = decisionChannel.hasSubscribers && this.listeners.count(event) > 0 ? performance.now() : -1
    const result = this.listeners.dispatch(event, payload as SmtpEvents[K])
    if (Array.isArray(result)) {
      release?.()
      if (start >= 0) this.observe(event, start, result, false)
      this.reportErrors(event, result)
      // A listener may have closed the session; the command then goes no further.
      if (!this.owner.isClosed()) then(result)
      return
    }
    this.heldSlot = release
    this.owner.hold()
    let answered = false
    const answer = (settled: readonly Settled[]): void => {
      answered = true
      this.stopTimer()
      release?.()
      this.owner.release()
      if (start >= 0) this.observe(event, start, settled, true)
      // Errors are reported even when the session ended meanwhile: a failure is never lost.
      this.reportErrors(event, settled)
      if (this.owner.isClosed()) return
      this.owner.resume(() => then(settled))
    }
    const work = this.track(result)
    work.then(
      (settled) => {
        if (!answered) return answer(settled)
        this.reportErrors(event, settled) // a late result after listenerTimeout: only its errors count
      },
      (error: unknown) => {
        release?.()
        this.owner.internalError(error)
      },
    )
    const limit = this.options.listenerTimeout
    if (limit > 0 && limit !== Infinity) {
      this.decisionTimer = setTimeout(() => {
        // Given up on: `settled()` and a server's close() no longer wait for it either.
        this.pendingWork?.delete(work)
        const error = new SmtpwireError('SMTPWIRE_ERR_LISTENER_TIMEOUT', `${event} listener did not settle within ${limit} ms`)
        answer([{ ok: false, error }])
      }, limit)
      // Not unref'd: the timer stands for a reply the client is owed, and must fire even when
      // nothing else keeps the process alive (an in-memory session, a bridge).
    }
  }

  private stopTimer(): void {
    if (this.decisionTimer) clearTimeout(this.decisionTimer)
    this.decisionTimer = null
    this.heldSlot = null
  }

  /** The session closed: a listener that never settles must not keep its processing slot or timer. */
  abandon(): void {
    const slot = this.heldSlot
    this.stopTimer()
    slot?.()
  }

  /** Emits a notice event; listener errors go to `error`. After `close`, only `error` is told. */
  notice<K extends keyof NoticeEvents>(event: K, payload: NoticeEvents[K]): void {
    if (this.closeNotified && event !== 'error') return
    if (this.listeners.count(event) === 0) {
      // An error nobody hears would vanish; any other notice without listeners is nothing to do.
      if (event === 'error' && this.options.logger === SILENT) warnUnheard(payload as NoticeEvents['error'])
      return
    }
    const result = this.listeners.dispatch(event, payload as SmtpEvents[K])
    if (Array.isArray(result)) return this.reportErrors(event, result)
    this.track(result.then((settled) => this.reportErrors(event, settled)))
  }

  /** `close` was emitted: the session's last notice (a listener that fails late may still report `error`). */
  closeNoticed(): void {
    this.closeNotified = true
  }

  /** Keeps listener work until it settles, so `settled()` can wait for it. */
  private track<T>(work: Promise<T>): Promise<T> {
    const pending = (this.pendingWork ??= new Set())
    pending.add(work)
    const forget = (): void => void pending.delete(work)
    work.then(forget, forget)
    return work
  }

  /** True while a Promise returned by a listener has not settled (what `settled()` waits for). */
  get pending(): boolean {
    return this.pendingWork !== null && this.pendingWork.size > 0
  }

  /** Resolves once every Promise returned by listeners so far has settled. */
  async settled(): Promise<void> {
    // Called from a listener, the dispatch it is part of registers its Promise just after: wait a tick.
    await null
    const pending = this.pendingWork
    while (pending && pending.size > 0) await Promise.allSettled(pending)
  }

  private observe(event: keyof DecisionEvents, start: number, settled: readonly Settled[], async: boolean): void {
    if (!decisionChannel.hasSubscribers) return
    const duration = performance.now() - start
    const { kind: outcome } = combine(settled)
    decisionChannel.publish({ session: this.owner.sessionInfo, event, listeners: settled.length, async, outcome, duration })
  }

  private reportErrors(event: string, settled: readonly Settled[]): void {
    const errors = unexpectedErrors(settled)
    // Almost always none: no iterator for them.
    if (errors.length === 0) return
    for (const error of errors) {
      this.owner.log.error(`${event} listener failed: ${error.message}`)
      if (event === 'error') process.emitWarning(error) // an `error` listener threw: nowhere else to go
      else this.notice('error', { session: this.owner.sessionInfo, error, event })
    }
  }
}

// The kinds of unheard error already warned about, process-wide as the warnings are.
const warnedKinds = new Set<string>()

/**
 * An error with no `error` listener and the silent logger would vanish (a `TypeError` in a
 * `message` listener would be a bare `451`): it goes to `process.emitWarning` instead, once per
 * kind (the event and the error's name), so a hot failure cannot flood the process.
 */
function warnUnheard({ error, event }: NoticeEvents['error']): void {
  const kind = `${event ?? 'connection'}:${error.name}`
  if (warnedKinds.has(kind)) return
  warnedKinds.add(kind)
  const where = event === null ? 'a connection' : `a '${event}' listener`
  process.emitWarning(`${where} failed with ${error.name}: ${error.message} (no 'error' listener and no logger; later ${kind} errors are not reported)`, {
    type: 'SmtpwireWarning',
    code: 'SMTPWIRE_UNHEARD_ERROR',
    ...(error.stack === undefined ? {} : { detail: error.stack }),
  })
}
