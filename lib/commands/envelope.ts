// The envelope: MAIL FROM starts a transaction, RCPT TO adds recipients. Sequence, parameter and
// address rules are checked here, before any listener is asked.

import { offeredMechanisms, paramExtensions } from '../capabilities.js'
import { combine, NO_ANSWERS, replyFor, type Settled } from '../events.js'
import type { Host } from '../host.js'
import { mailParams, rcptParams, type MailParams, type ParamExtensions, type RcptParams } from '../params.js'
import type { Command, RawParams } from '../parser.js'
import { REPLIES } from '../replies.js'
import type { TransactionState } from '../session.js'
import { hasAuthListener, noTransactionReply } from './guards.js'

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

/**
 * Parameters are an ESMTP feature: after plain HELO every one is unknown (RFC 5321 §4.1.1.1). A
 * line without parameters needs none: the usual MAIL and RCPT ask nothing and build nothing.
 */
function extensionsFor(host: Host, raw: RawParams): ParamExtensions {
  const session = host.session.info
  if (raw.length === 0 || session.heloVerb === 'HELO') return NO_EXTENSIONS
  return paramExtensions(host.options, offeredMechanisms(host.options, session.tls !== null, hasAuthListener(host)).length > 0)
}

/** MAIL FROM:<reverse-path> [params]. */
export function mail(host: Host, command: Mail): void {
  const { options } = host
  const session = host.session.info
  if (session.heloVerb === null) return host.sendError(REPLIES.needHelo)
  if (host.session.transaction) return host.sendError(REPLIES.nestedMail)
  if (options.authPolicy === 'required' && session.user === null) return host.send(REPLIES.authRequired)
  const params = mailParams(command.params, extensionsFor(host, command.params))
  if (typeof params === 'string') return host.sendError(REPLIES[params])
  // RFC 6531 §3.4: a UTF-8 address needs the SMTPUTF8 parameter; §3.5: 550 at MAIL, 553 at RCPT.
  if (command.from?.isUtf8 && !params.smtpUtf8) return host.send(REPLIES.utf8SenderNotDeclared)
  // RFC 1870 §6.1: a declared size over the limit is refused at once.
  const max = options.maxMessageSize
  if (params.size !== null && max > 0 && params.size > max) return host.send(REPLIES.declaredSizeTooBig)
  // Most servers do not listen to `sender`: then no payload and no closure are built for nobody.
  if (!host.hasListeners('sender')) return senderDecided(host, command, params, NO_ANSWERS)
  host.decide('sender', { session, address: command.from, params }, (settled) => senderDecided(host, command, params, settled))
}

function senderDecided(host: Host, command: Mail, params: MailParams, settled: readonly Settled[]): void {
  const outcome = combine(settled)
  if (outcome.kind === 'accept') host.session.beginTransaction(command.from, params)
  host.send(replyFor(outcome, REPLIES.senderOk, REPLIES.senderRejected))
}

/** RCPT TO:<forward-path> [params]. */
export function rcpt(host: Host, command: Rcpt): void {
  const session = host.session.info
  const transaction = host.session.transaction
  if (!transaction) return host.sendError(noTransactionReply(session))
  if (transaction.body) return host.sendError(REPLIES.rcptAfterData)
  // RFC 5321 §4.5.3.1.10: 452 for one recipient too many; the client sends the rest later.
  if (transaction.to.length >= host.options.maxRecipients) return host.send(REPLIES.tooManyRecipients)
  const params = rcptParams(command.params, extensionsFor(host, command.params))
  if (typeof params === 'string') return host.sendError(REPLIES[params])
  if (command.to.isUtf8 && !transaction.mailParams.smtpUtf8) return host.send(REPLIES.utf8NotDeclared)
  // As for `sender`: nothing built for nobody.
  if (!host.hasListeners('recipient')) return recipientDecided(host, transaction, command, params, NO_ANSWERS)
  host.decide('recipient', { session, transaction, address: command.to, params }, (settled) =>
    recipientDecided(host, transaction, command, params, settled),
  )
}

function recipientDecided(host: Host, transaction: TransactionState, command: Rcpt, params: RcptParams, settled: readonly Settled[]): void {
  const outcome = combine(settled)
  if (outcome.kind === 'accept') transaction.recipientAdded({ address: command.to, params })
  host.send(replyFor(outcome, REPLIES.recipientOk, REPLIES.recipientRejected))
}
