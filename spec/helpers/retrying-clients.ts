// Concurrent SMTP clients that behave like a sending MTA: each message is sent until it gets a
// 250, retrying after a 4xx or a lost connection (RFC 5321 §4.5.4.1), one message per session,
// each client bound to a local address of its own so the server sees distinct client addresses.

import { runSession } from '../../bench/smtp-client.js'

/** One try of one message: the deciding reply (code 0: the connection was lost) and the client's address. */
export interface Attempt {
  readonly code: number
  readonly reply: string
  readonly localAddress: string
  /** When the try ended (Date.now()), to line failures up with the faults injected. */
  readonly endedAt: number
}

/** Everything that happened to message `id`. */
export interface MessageOutcome {
  readonly id: number
  readonly body: Buffer
  readonly attempts: readonly Attempt[]
  /** True once a try got a 2xx. */
  readonly accepted: boolean
}

/** What `sendAll` runs. */
export interface RetryingLoad {
  readonly port: number
  /** Clients at once; client `n` connects from `localAddresses[n % length]`. */
  readonly clients: number
  readonly localAddresses: readonly string[]
  /** The body of message `id`, or null when there are no more messages to send. */
  readonly next: (id: number) => Buffer | null
  /** Called after each acceptance with the number accepted so far (fault injection hooks in here). */
  readonly onAccepted?: (accepted: number) => void
  /** Tries per message before giving up on it. Default 50. */
  readonly maxAttempts?: number
}

/**
 * Runs the clients until `next` returns null; resolves with every message's outcome by id. A 5xx
 * ends a message's tries (the server refused it for good); so does running out of attempts.
 */
export async function sendAll(load: RetryingLoad): Promise<MessageOutcome[]> {
  const outcomes: MessageOutcome[] = []
  let nextId = 0
  let accepted = 0
  const client = async (index: number): Promise<void> => {
    const localAddress = load.localAddresses[index % load.localAddresses.length] ?? '127.0.0.1'
    for (;;) {
      const id = nextId
      const body = load.next(id)
      if (body === null) return
      nextId++
      const attempts: Attempt[] = []
      let ok = false
      while (!ok && attempts.length < (load.maxAttempts ?? 50)) {
        const { results, extensions } = await runSession({ host: '127.0.0.1', port: load.port, messages: [body], localAddress, idleTimeoutMs: 60_000 })
        const result = results[0]
        // Where a lost connection was lost: before the EHLO reply, or with a transaction under way.
        const stage = extensions.size > 0 ? 'after EHLO' : 'before EHLO'
        attempts.push({ code: result?.code ?? 0, reply: result?.code ? result.reply : `${result?.reply ?? 'no result'} (${stage})`, localAddress, endedAt: Date.now() })
        ok = result?.ok ?? false
        if (!ok && (result?.code ?? 0) >= 500) break
      }
      outcomes[id] = { id, body, attempts, accepted: ok }
      if (ok) load.onAccepted?.(++accepted)
    }
  }
  await Promise.all(Array.from({ length: load.clients }, (_, index) => client(index)))
  return outcomes
}
