// The rungs a protocol spec can start from (connected → ehlo → mail → rcpt), in the manner of
// go-smtp's helper ladder, plus an event recorder for checking event order. Both are built on
// SmtpDriver's own ladder (ehlo/mail/rcpt/recordEvents), which users get too.

import { recordEvents as record, SmtpDriver } from '../../lib/driver.js'
import type { SmtpEvents } from '../../lib/events.js'
import type { SmtpOptions } from '../../lib/options.js'
import { SmtpProtocol } from '../../lib/protocol.js'

/** Where a spec starts. */
export type Rung = 'connected' | 'ehlo' | 'mail' | 'rcpt'

const RUNG_STEPS: Record<Rung, Array<(client: SmtpDriver) => Promise<string>>> = {
  connected: [],
  ehlo: [(c) => c.ehlo()],
  mail: [(c) => c.ehlo(), (c) => c.mail('sender@client.test')],
  rcpt: [(c) => c.ehlo(), (c) => c.mail('sender@client.test'), (c) => c.rcpt('rcpt@mx.test')],
}

export const TEST_OPTIONS: SmtpOptions = { domain: 'mx.test' }

/** A protocol with the given options and listeners, driven in memory from the given rung. */
export async function startAt(
  rung: Rung,
  options: SmtpOptions = {},
  setup: (smtp: SmtpProtocol) => void = () => undefined,
): Promise<{ smtp: SmtpProtocol; client: SmtpDriver }> {
  const smtp = new SmtpProtocol({ ...TEST_OPTIONS, ...options })
  setup(smtp)
  const client = new SmtpDriver(smtp)
  const greeting = await client.connect()
  if (!greeting.startsWith('220 ')) throw new Error(`unexpected greeting ${greeting}`)
  for (const step of RUNG_STEPS[rung]) {
    const reply = await step(client)
    if (!reply.startsWith('250')) throw new Error(`climbing to ${rung} got ${reply}`)
  }
  return { smtp, client }
}

const ALL_EVENTS: Array<keyof SmtpEvents> = [
  'connect',
  'ehlo',
  'sender',
  'recipient',
  'data',
  'headers',
  'dataChunk',
  'message',
  'plainAuth',
  'vrfy',
  'expn',
  'help',
  'reset',
  'transaction',
  'close',
  'error',
]

/**
 * Records every event as a short string: the name, plus the detail that tells events apart
 * (`transaction:delivered`, `close:peer:aborted`, `error:sender`).
 */
export function recordEvents(smtp: SmtpProtocol, skip: Array<keyof SmtpEvents> = []): string[] {
  return record(
    smtp,
    ALL_EVENTS.filter((name) => !skip.includes(name)),
  )
}

/** A Promise with its resolve and reject, for listeners a spec settles by hand. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** Lets queued callbacks run (one macrotask turn). */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
