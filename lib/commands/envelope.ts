// The envelope: MAIL FROM starts a transaction, RCPT TO adds recipients. Sequence, parameter and
// address rules are checked here, before any listener is asked.

import { paramExtensions } from '../capabilities.js'
import { combine } from '../events.js'
import type { Host } from '../host.js'
import { parseMailParams, parseRcptParams, type ParamExtensions } from '../params.js'
import type { Command } from '../parser.js'
import { REPLIES } from '../replies.js'
import { TransactionState } from '../session.js'
import { replyFor } from './answer.js'
import { hasDataStarted } from './data.js'

type Mail = Extract<Command, { verb: 'MAIL' }>
type Rcpt = Extract<Command, { verb: 'RCPT' }>

const NO_EXTENSIONS: ParamExtensions = {
  size: false,
  eightBitMime: false,
  binaryMime: false,
  smtpUtf8: false,
  dsn: false,
  auth: false,
}

/** Parameters are an ESMTP feature: after plain HELO every one is unknown (RFC 5321 §4.1.1.1). */
function extensionsFor(host: Host): ParamExtensions {
  if (host.session.heloVerb === 'HELO') return NO_EXTENSIONS
  return paramExtensions(host.options, host.authMechanisms(host.session.tls !== null).length > 0)
}

let transactionSerial = 0

/** MAIL FROM:<reverse-path> [params]. */
export function mail(host: Host, command: Mail): void {
  const { session, options } = host
  if (session.heloVerb === null) return host.sendError(REPLIES.needHelo)
  if (host.transaction) return host.sendError(REPLIES.nestedMail)
  if (options.authPolicy === 'required' && session.user === null) return host.send(REPLIES.authRequired)
  const parsed = parseMailParams(command.params, extensionsFor(host))
  if (!parsed.ok) return host.sendError(REPLIES[parsed.reply])
  const params = parsed.params
  // RFC 6531 §3.4: a UTF-8 address needs the SMTPUTF8 parameter; §3.5: 550 at MAIL, 553 at RCPT.
  if (command.from?.isUtf8 && !params.smtpUtf8) return host.send(REPLIES.utf8SenderNotDeclared)
  // RFC 1870 §6.1: a declared size over the limit is refused at once.
  const max = options.maxMessageSize
  if (params.size !== null && max > 0 && params.size > max) return host.send(REPLIES.declaredSizeTooBig)
  host.decide('sender', { session, address: command.from, params }, (settled) => {
    const outcome = combine(settled)
    if (outcome.kind === 'accept') {
      transactionSerial = (transactionSerial + 1) % Number.MAX_SAFE_INTEGER
      const id = `${session.id}.${transactionSerial.toString(36)}`
      host.transaction = new TransactionState(id, command.from, params, session.forwarded)
      session.counters.transactions++
    }
    host.send(replyFor(outcome, REPLIES.senderOk, REPLIES.senderRejected))
  })
}

/** RCPT TO:<forward-path> [params]. */
export function rcpt(host: Host, command: Rcpt): void {
  const transaction = host.transaction
  if (!transaction) return host.sendError(host.session.heloVerb ? REPLIES.needMail : REPLIES.needHelo)
  if (hasDataStarted(transaction)) return host.sendError(REPLIES.rcptAfterData)
  // RFC 5321 §4.5.3.1.10: 452 for one recipient too many; the client sends the rest later.
  if (transaction.to.length >= host.options.maxRecipients) return host.send(REPLIES.tooManyRecipients)
  const parsed = parseRcptParams(command.params, extensionsFor(host))
  if (!parsed.ok) return host.sendError(REPLIES[parsed.reply])
  if (command.to.isUtf8 && !transaction.mailParams.smtpUtf8) return host.send(REPLIES.utf8NotDeclared)
  const params = parsed.params
  host.decide('recipient', { session: host.session, transaction, address: command.to, params }, (settled) => {
    const outcome = combine(settled)
    if (outcome.kind === 'accept') transaction.to.push({ address: command.to, params })
    host.send(replyFor(outcome, REPLIES.recipientOk, REPLIES.recipientRejected))
  })
}
