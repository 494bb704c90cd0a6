// Subscribes to every smtpwire diagnostics channel and keeps what a filter lets through, in order,
// with durations checked and replaced, so specs can compare whole payloads exactly.

import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { CHANNELS, type ChannelName } from '../../lib/diagnostics.js'

/** One published message: its channel and its payload. */
export interface Published {
  readonly channel: ChannelName
  readonly payload: Record<string, unknown>
}

/** Records published messages until `stop()`. */
export class DiagnosticsRecorder {
  readonly published: Published[] = []
  private waiters: Array<() => void> = []
  private readonly handlers = new Map<ChannelName, (message: unknown) => void>()

  constructor(private readonly keep: (entry: Published) => boolean = () => true) {
    for (const name of Object.values(CHANNELS)) {
      const handler = (message: unknown): void => {
        const entry = { channel: name, payload: message as Record<string, unknown> }
        if (!this.keep(entry)) return
        this.published.push(entry)
        for (const wake of this.waiters.splice(0)) wake()
      }
      this.handlers.set(name, handler)
      subscribe(name, handler)
    }
  }

  /** Unsubscribes from every channel. */
  stop(): void {
    for (const [name, handler] of this.handlers) unsubscribe(name, handler)
    this.handlers.clear()
  }

  /** Resolves once a recorded message matches `test`. */
  async waitFor(test: (entry: Published) => boolean): Promise<Published> {
    for (;;) {
      const found = this.published.find(test)
      if (found) return found
      await new Promise<void>((resolve) => this.waiters.push(resolve))
    }
  }

  /** Removes and returns what was recorded so far. */
  take(): Published[] {
    return this.published.splice(0)
  }
}

/**
 * A payload as plain data to compare: `session` becomes `'session'` when it is `session` (else its
 * id), `transaction` its id, `reply` `"<code> <first line>"`, an Error its message, and every
 * `duration` `'ms'` once checked to be a finite number ≥ 0.
 */
export function plain(payload: Record<string, unknown>, session: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(payload)) {
    if (key === 'session') out[key] = value === null ? null : value === session ? 'session' : (value as { id: string }).id
    else if (key === 'transaction') out[key] = (value as { id: string }).id
    else if (key === 'reply') out[key] = replyLine(value as { code: number; text: string | readonly string[] })
    else if (value instanceof Error) out[key] = value.message
    else if (key === 'duration') {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new Error(`bad duration ${String(value)}`)
      out[key] = 'ms'
    } else out[key] = value
  }
  return out
}

/** A reply as `"<code> <first line of text>"`. */
function replyLine(reply: { code: number; text: string | readonly string[] }): string {
  const text = typeof reply.text === 'string' ? reply.text : (reply.text[0] ?? '')
  return `${reply.code} ${text.split(/\r?\n/)[0] ?? ''}`
}

/** `[channel, plain payload]` pairs, for one deep-equal. */
export function summary(entries: readonly Published[], session: unknown): Array<[ChannelName, Record<string, unknown>]> {
  return entries.map((entry) => [entry.channel, plain(entry.payload, session)])
}
