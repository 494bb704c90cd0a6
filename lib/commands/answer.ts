// Turns the settled results of a decision into the reply: the listener's own reply, or the
// command's default for accept, reject and failure.

import { combine, type Outcome, type Settled } from '../events.js'
import type { Host } from '../host.js'
import { REPLIES, type Reply } from '../replies.js'

/** The reply for an outcome, given the command's three defaults. */
export function replyFor(outcome: Outcome, accepted: Reply, rejected: Reply, failed: Reply = REPLIES.localError): Reply {
  if (outcome.kind === 'fail') return failed
  return outcome.reply ?? (outcome.kind === 'accept' ? accepted : rejected)
}

/** Sends the reply for the listeners' combined verdict; true when they accepted. */
export function answer(host: Host, settled: readonly Settled[], accepted: Reply, rejected: Reply, failed?: Reply): boolean {
  const outcome = combine(settled)
  host.send(replyFor(outcome, accepted, rejected, failed))
  return outcome.kind === 'accept'
}
