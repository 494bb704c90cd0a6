// Error and reply values users create: SmtpReply (any reply), SmtpError (a rejection thrown by a
// listener) and SmtpwireError (an operational error with a stable SMTPWIRE_ERR_* code). Leaf module.

import type { EnhancedCode, Reply } from './replies.js'

/** Stable codes of operational errors (`err.code`). */
export type SmtpwireErrorCode =
  | 'SMTPWIRE_ERR_INVALID_OPTION'
  | 'SMTPWIRE_ERR_INVALID_REPLY'
  | 'SMTPWIRE_ERR_INTERNAL'
  | 'SMTPWIRE_ERR_ALREADY_STARTED'
  | 'SMTPWIRE_ERR_TLS'
  | 'SMTPWIRE_ERR_PROXY_HEADER'
  | 'SMTPWIRE_ERR_ABORTED'
  | 'SMTPWIRE_ERR_STREAM'
  | 'SMTPWIRE_ERR_LISTENER_TIMEOUT'
  | 'SMTPWIRE_ERR_LISTENER_RESULT'
  | 'SMTPWIRE_ERR_NO_BODY'

/** An error that is not an SMTP reply: bad options, a listener that blew up, a failed TLS handshake. */
export class SmtpwireError extends Error {
  /** Which kind of error this is; stable across versions, unlike the message. */
  readonly code: SmtpwireErrorCode
  constructor(code: SmtpwireErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SmtpwireError'
    this.code = code
  }
}

const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})$/

function checkReply(code: number, enhanced: EnhancedCode | undefined, min: number): void {
  if (!Number.isInteger(code) || code < min || code > 599) {
    throw new SmtpwireError('SMTPWIRE_ERR_INVALID_REPLY', `reply code must be an integer from ${min} to 599, got ${code}`)
  }
  if (enhanced === undefined) return
  const match = ENHANCED.exec(enhanced)
  if (!match || Number(match[1]) !== Math.floor(code / 100)) {
    throw new SmtpwireError('SMTPWIRE_ERR_INVALID_REPLY', `enhanced code ${enhanced} does not fit reply code ${code}`)
  }
}

/**
 * A reply chosen by a listener. Return one from a decision listener to answer with exactly this
 * reply: a 2xx/3xx code accepts (e.g. `250 2.0.0 Queued as 4F2A`), a 4xx/5xx code rejects.
 *
 * @example
 * smtp.on('message', async ({ transaction }) => new SmtpReply(250, `Queued as ${await queue(transaction)}`, '2.0.0'))
 */
export class SmtpReply implements Reply {
  /** The reply code, 200–599. */
  readonly code: number
  /** The enhanced status code, or undefined for the `X.0.0` default (sent only where enhanced codes are on). */
  readonly enhanced: EnhancedCode | undefined
  /** The text: one line, or several for a multiline reply; CR and LF inside a line also break it. */
  readonly text: string | readonly string[]
  /** @throws SmtpwireError `SMTPWIRE_ERR_INVALID_REPLY` for a code outside 200–599 or a mismatched enhanced code. */
  constructor(code: number, text: string | readonly string[], enhanced?: EnhancedCode) {
    checkReply(code, enhanced, 200)
    this.code = code
    this.text = text
    this.enhanced = enhanced
  }
}

/**
 * A rejection with an exact reply. Throw it (or reject with it) from any listener and that reply is
 * sent; a 421 also closes the connection. Without an enhanced code, `X.0.0` is used where enhanced
 * codes are on.
 *
 * @example
 * smtp.on('recipient', ({ address }) => {
 *   if (address.domain !== 'example.org') throw new SmtpError(550, 'Relay access denied', '5.7.1')
 * })
 */
export class SmtpError extends Error implements Reply {
  /** The reply code, 400–599. */
  readonly code: number
  /** The enhanced status code, or undefined for the `X.0.0` default (sent only where enhanced codes are on). */
  readonly enhanced: EnhancedCode | undefined
  /** The text: one line, or several for a multiline reply; CR and LF inside a line also break it. */
  readonly text: string | readonly string[]
  /** @throws SmtpwireError `SMTPWIRE_ERR_INVALID_REPLY` for a code outside 400–599 or a mismatched enhanced code. */
  constructor(code: number, text: string | readonly string[], enhanced?: EnhancedCode) {
    checkReply(code, enhanced, 400)
    super(typeof text === 'string' ? text : text.join(' '))
    this.name = 'SmtpError'
    this.code = code
    this.text = text
    this.enhanced = enhanced
  }
}
