// The session rather than a transaction: the greeting (and the connect decision behind it),
// HELO/EHLO/LHLO, RSET, NOOP, QUIT and the queries VRFY, EXPN and HELP.

import { offeredKeywords } from '../capabilities.js'
import { combine, replyFor } from '../events.js'
import type { Host } from '../host.js'
import type { ResolvedOptions } from '../options.js'
import type { Command } from '../parser.js'
import { closingReply, greetingReply, helloReply, REPLIES, type Reply } from '../replies.js'
import { hasAuthListener } from './guards.js'

type Hello = Extract<Command, { verb: 'HELO' | 'EHLO' | 'LHLO' }>

// The greeting and the QUIT reply depend only on the options, which a server's sessions share:
// built once per options and frozen, so formatReply keeps their bytes too (one of each per
// connection showed in profiles of many short sessions).
const fixedReplies = new WeakMap<ResolvedOptions, { readonly greeting: Reply; readonly closing: Reply }>()

function fixedRepliesOf(options: ResolvedOptions): { readonly greeting: Reply; readonly closing: Reply } {
  let replies = fixedReplies.get(options)
  if (!replies) {
    replies = { greeting: Object.freeze(greetingReply(options.domain, options.greeting)), closing: Object.freeze(closingReply(options.domain)) }
    fixedReplies.set(options, replies)
  }
  return replies
}
type Query = Extract<Command, { verb: 'VRFY' | 'EXPN' | 'HELP' }>

/** Sends the greeting, or asks `connect` listeners first (again after XCLIENT). */
export function greet(host: Host): void {
  const { options } = host
  host.session.connecting()
  host.decide('connect', { session: host.session.info }, (settled) => {
    const outcome = combine(settled)
    if (outcome.kind === 'accept') {
      host.send(outcome.reply ?? fixedRepliesOf(options).greeting)
    } else {
      // RFC 5321 §3.1: after a 554 greeting, answer 503 to everything but QUIT. A greeting can
      // only be 220, 421 or 554, so a listener that blew up gets 421.
      host.session.connectRefused()
      host.send(outcome.kind === 'fail' ? REPLIES.localErrorClosing : (outcome.reply ?? REPLIES.connectionRejected))
    }
  })
}

/** HELO, EHLO and LHLO: greet, list extensions, and clear any transaction. */
export function hello(host: Host, command: Hello): void {
  const lmtp = host.options.lmtp
  // RFC 2033 §4.1: an LMTP server answers HELO and EHLO as unknown commands.
  if (lmtp !== (command.verb === 'LHLO')) {
    host.sendError(lmtp ? REPLIES.notLmtp : REPLIES.unknownCommand)
    return
  }
  const { options } = host
  const session = host.session.info
  host.decide('ehlo', { session, verb: command.verb, domain: command.domain }, (settled) => {
    const outcome = combine(settled)
    if (outcome.kind !== 'accept') {
      host.send(replyFor(outcome, REPLIES.ok, REPLIES.heloRejected))
      return
    }
    host.session.greeted(command.verb, command.domain)
    // RFC 5321 §4.1.4: EHLO/HELO part-way through a session clears the transaction, like RSET.
    host.session.endTransaction('helo')
    if (command.verb === 'HELO') {
      host.send(outcome.reply ?? helloReply(options.domain, command.domain, null))
    } else {
      // The keyword lines are kept per capability state: only the first line is formatted here.
      const keywords = offeredKeywords(options, session, host.canUpgrade, hasAuthListener(host))
      host.sendHello(command.domain, keywords)
    }
  })
}

/** RSET: clear the transaction (RFC 5321 §4.1.1.5). */
export function rset(host: Host): void {
  if (host.hasListeners('reset')) host.notice('reset', { session: host.session.info })
  host.session.endTransaction('reset')
  host.send(REPLIES.resetOk)
}

/** NOOP. */
export function noop(host: Host): void {
  host.send(REPLIES.ok)
}

/** QUIT: 221, then the connection ends. */
export function quit(host: Host): void {
  host.close('quit', fixedRepliesOf(host.options).closing)
}

const QUERY_DEFAULTS: Record<Query['verb'], { event: 'vrfy' | 'expn' | 'help'; accepted: Reply; rejected: Reply }> = {
  // RFC 5321 §3.5.3: 252 when the server will not verify but will try delivery.
  VRFY: { event: 'vrfy', accepted: REPLIES.cannotVerify, rejected: REPLIES.vrfyRejected },
  EXPN: { event: 'expn', accepted: REPLIES.expnDisabled, rejected: REPLIES.expnRejected },
  HELP: { event: 'help', accepted: REPLIES.help, rejected: REPLIES.commandNotImplemented },
}

/** VRFY, EXPN, HELP: the listener answers (with an SmtpReply), else the safe default. */
export function query(host: Host, command: Query): void {
  const { event, accepted, rejected } = QUERY_DEFAULTS[command.verb]
  host.decide(event, { session: host.session.info, argument: command.argument }, (settled) => {
    host.send(replyFor(combine(settled), accepted, rejected))
  })
}
