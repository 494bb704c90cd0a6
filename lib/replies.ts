// The reply catalogue: every code, enhanced code and text smtpwire sends on its own, and the one
// function that turns a reply into wire bytes. Pure: imports nothing with state.

/** An RFC 3463 enhanced status code such as `5.1.1`; its class digit matches the reply code's. */
export type EnhancedCode = `${2 | 4 | 5}.${number}.${number}`

/** One SMTP reply: a three-digit code, an optional enhanced code and one or more lines of text. */
export interface Reply {
  readonly code: number
  /** `null`: this reply never carries one (greeting, HELO/EHLO, 3xx). `undefined`: `X.0.0` is used. */
  // `| undefined` spelled out: SmtpReply and SmtpError always have the property, possibly
  // undefined, and must still implement Reply under exactOptionalPropertyTypes.
  readonly enhanced?: EnhancedCode | null | undefined
  readonly text: string | readonly string[]
}

const r = (code: number, enhanced: EnhancedCode | null, text: string): Reply => Object.freeze({ code, enhanced, text })

/**
 * Every reply the core sends by itself, keyed by meaning. Listeners override the text or the code
 * by returning an `SmtpReply` or throwing an `SmtpError`.
 */
export const REPLIES = Object.freeze({
  // 2xx
  ok: r(250, '2.0.0', 'OK'),
  closing: r(221, '2.0.0', 'Service closing transmission channel'),
  senderOk: r(250, '2.1.0', 'Sender OK'),
  recipientOk: r(250, '2.1.5', 'Recipient OK'),
  messageAccepted: r(250, '2.0.0', 'Message accepted'),
  resetOk: r(250, '2.0.0', 'Reset OK'),
  chunkReceived: r(250, '2.0.0', 'Chunk received'),
  cannotVerify: r(252, '2.0.0', 'Cannot VRFY user, but will accept message and attempt delivery'),
  help: r(214, '2.0.0', 'See https://www.rfc-editor.org/rfc/rfc5321 for the commands'),
  readyToStartTls: r(220, '2.0.0', 'Ready to start TLS'),
  authSucceeded: r(235, '2.7.0', 'Authentication succeeded'),
  // 3xx
  startData: r(354, null, 'End data with <CR><LF>.<CR><LF>'),
  // 4xx
  tooManyErrors: r(421, '4.7.0', 'Too many errors, closing connection'),
  tooManyAuthFailures: r(421, '4.7.0', 'Too many failed authentication attempts, closing connection'),
  tooManyConnections: r(421, '4.7.0', 'Too many connections, try again later'),
  tooManyConnectionsFromAddress: r(421, '4.7.0', 'Too many connections from your address, try again later'),
  shuttingDown: r(421, '4.3.2', 'Service shutting down, closing connection'),
  timeout: r(421, '4.4.2', 'Timeout, closing connection'),
  localError: r(451, '4.3.0', 'Local error in processing, try again later'),
  localErrorClosing: r(421, '4.3.0', 'Local error in processing, closing connection'),
  tooManyRecipients: r(452, '4.5.3', 'Too many recipients'),
  // 5xx: syntax and sequence
  lineTooLong: r(500, '5.5.2', 'Line too long'),
  bareLineFeed: r(500, '5.5.2', 'Bare CR or LF in command line, use CRLF'),
  unknownCommand: r(500, '5.5.1', 'Command unrecognized'),
  invalidUtf8: r(500, '5.5.2', 'Command is not valid UTF-8'),
  notLmtp: r(500, '5.5.1', 'This is an LMTP server, use LHLO'),
  syntaxError: r(501, '5.5.4', 'Syntax error in parameters or arguments'),
  badBdatSyntax: r(501, '5.5.4', 'Malformed BDAT size, the chunk cannot be read; closing connection'),
  duplicateParameter: r(501, '5.5.4', 'Duplicate parameter'),
  badParameterValue: r(501, '5.5.4', 'Invalid parameter value'),
  badHelo: r(501, '5.5.4', 'Syntax: EHLO domain-or-address-literal'),
  badSenderSyntax: r(501, '5.1.7', 'Bad sender address syntax'),
  badRecipientSyntax: r(501, '5.1.3', 'Bad recipient address syntax'),
  badBase64: r(501, '5.5.2', 'Cannot decode base64 response'),
  authCancelled: r(501, '5.0.0', 'Authentication cancelled'),
  commandNotImplemented: r(502, '5.5.1', 'Command not implemented'),
  expnDisabled: r(502, '5.5.1', 'EXPN not available'),
  chunkingDisabled: r(502, '5.5.1', 'BDAT not available'),
  needHelo: r(503, '5.5.1', 'Send HELO/EHLO first'),
  needEhlo: r(503, '5.5.1', 'Send EHLO first, this command is an ESMTP extension'),
  rcptAfterData: r(503, '5.5.1', 'Recipients cannot be added once the data has started'),
  needMail: r(503, '5.5.1', 'Need MAIL command first'),
  needRcpt: r(503, '5.5.1', 'Need RCPT command first'),
  nestedMail: r(503, '5.5.1', 'Sender already specified'),
  mixedDataAndBdat: r(503, '5.5.1', 'DATA and BDAT cannot be mixed in one transaction'),
  binaryNeedsBdat: r(503, '5.6.1', 'BODY=BINARYMIME requires BDAT'),
  alreadyAuthenticated: r(503, '5.5.1', 'Already authenticated'),
  authInTransaction: r(503, '5.5.1', 'AUTH not allowed during a mail transaction'),
  alreadySecure: r(503, '5.5.1', 'TLS already active'),
  proxyInTransaction: r(503, '5.5.1', 'Not allowed during a mail transaction'),
  rejectedConnection: r(503, '5.5.1', 'Connection rejected, only QUIT is accepted'),
  badBdatSequence: r(503, '5.5.1', 'BDAT after the LAST chunk or a failed chunk'),
  unsupportedAuthMechanism: r(504, '5.5.4', 'Unrecognized authentication mechanism'),
  unknownParameter: r(555, '5.5.4', 'Parameter not recognized or not implemented'),
  // 5xx: policy
  authRequired: r(530, '5.7.0', 'Authentication required'),
  tlsRequired: r(530, '5.7.0', 'Must issue a STARTTLS command first'),
  encryptionRequiredForAuth: r(538, '5.7.11', 'Encryption required for requested authentication mechanism'),
  authFailed: r(535, '5.7.8', 'Authentication credentials invalid'),
  proxyNotTrusted: r(550, '5.7.0', 'Insufficient authorization'),
  authForbidden: r(503, '5.5.1', 'Authentication not enabled'),
  heloRejected: r(550, '5.7.1', 'Hello rejected'),
  senderRejected: r(550, '5.7.1', 'Sender rejected'),
  recipientRejected: r(550, '5.1.1', 'Recipient rejected'),
  dataRejected: r(554, '5.7.1', 'Transaction rejected'),
  messageRejected: r(550, '5.7.1', 'Message rejected'),
  messageTooBig: r(552, '5.3.4', 'Message size exceeds fixed maximum message size'),
  declaredSizeTooBig: r(552, '5.3.4', 'Declared message size exceeds fixed maximum message size'),
  utf8NotDeclared: r(553, '5.6.7', 'Non-ASCII address needs the SMTPUTF8 parameter'),
  nullRecipient: r(553, '5.1.3', 'The null path is only valid as a sender'),
  bareLineEnding: r(550, '5.6.0', 'Message contains a bare CR or LF, line endings must be CRLF'),
  textLineTooLong: r(550, '5.6.0', 'Message contains a line longer than the limit'),
  connectionRejected: r(554, '5.7.1', 'No SMTP service here'),
  vrfyRejected: r(550, '5.1.1', 'User unknown'),
  expnRejected: r(550, '5.1.1', 'List unknown'),
})

/** The name of a catalogue entry. */
export type ReplyKey = keyof typeof REPLIES

const CRLF = '\r\n'

/** The text of a reply as lines, with any CR or LF inside a line turned into a line break. */
function textLines(text: string | readonly string[]): string[] {
  const parts = typeof text === 'string' ? [text] : text
  const lines: string[] = []
  for (const part of parts) for (const line of part.split(/\r\n|\r|\n/)) lines.push(line)
  return lines.length > 0 ? lines : ['']
}

/** The enhanced code a reply carries when enhanced codes are on; `null` when it carries none. */
export function enhancedCodeOf(reply: Reply): string | null {
  // RFC 2034 §3: 3xx replies carry no enhanced code; replies without one get the X.0.0 default.
  if (reply.enhanced === null || (reply.code >= 300 && reply.code < 400)) return null
  return reply.enhanced ?? `${Math.floor(reply.code / 100)}.0.0`
}

const formatted = new WeakMap<Reply, [Buffer | undefined, Buffer | undefined]>()

/**
 * The wire bytes of a reply: `code-text` for every line but the last, `code text` for the last,
 * each ending in CRLF, with the enhanced code after the reply code when `withEnhanced` is true.
 * Frozen catalogue entries are formatted once and reused.
 */
export function formatReply(reply: Reply, withEnhanced: boolean): Buffer {
  const cacheable = Object.isFrozen(reply)
  const slot = withEnhanced ? 1 : 0
  if (cacheable) {
    const hit = formatted.get(reply)?.[slot]
    if (hit) return hit
  }
  const enhanced = withEnhanced ? enhancedCodeOf(reply) : null
  const lines = textLines(reply.text)
  let out = ''
  lines.forEach((line, i) => {
    const sep = i === lines.length - 1 ? ' ' : '-'
    const body = enhanced === null || line === '' ? (enhanced ?? line) : `${enhanced} ${line}`
    // RFC 5321 §4.2: the text after the last line's code is optional, so an empty one ends at the
    // code; but RFC 4954 §4 writes an empty SASL challenge as "334 " with its space.
    const bare = body === '' && sep === ' ' && reply.code !== 334
    out += bare ? `${reply.code}${CRLF}` : `${reply.code}${sep}${body}${CRLF}`
  })
  const bytes = Buffer.from(out, 'utf8')
  if (cacheable) {
    const pair = formatted.get(reply) ?? [undefined, undefined]
    pair[slot] = bytes
    formatted.set(reply, pair)
  }
  return bytes
}

/** A copy of a catalogue reply with other text: keeps the code and enhanced code. */
export function withText(reply: Reply, text: string | readonly string[]): Reply {
  return { code: reply.code, enhanced: reply.enhanced, text }
}
