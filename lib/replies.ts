// The reply catalogue: every code, enhanced code and text smtpwire sends on its own, and the one
// function that turns a reply into wire bytes. Pure: imports nothing with state.

/** An RFC 3463 enhanced status code such as `5.1.1`; its class digit matches the reply code's. */
export type EnhancedCode = `${2 | 4 | 5}.${number}.${number}`

/** One SMTP reply: a three-digit code, an optional enhanced code and one or more lines of text. */
export interface Reply {
  /** The three-digit reply code. */
  readonly code: number
  /** `null`: this reply never carries one (greeting, HELO/EHLO, 3xx). `undefined`: `X.0.0` is used. */
  // `| undefined` spelled out: SmtpReply and SmtpError always have the property, possibly
  // undefined, and must still implement Reply under exactOptionalPropertyTypes.
  readonly enhanced?: EnhancedCode | null | undefined
  /** One line of text, or one string per line of a multiline reply. */
  readonly text: string | readonly string[]
}

const r = (code: number, enhanced: EnhancedCode | null, text: string): Reply => Object.freeze({ code, enhanced, text })

/**
 * Every reply the core sends by itself, keyed by meaning. Listeners override the text or the code
 * by returning an `SmtpReply` or throwing an `SmtpError`.
 *
 * @namespace
 */
export const REPLIES = Object.freeze({
  // 2xx
  /** NOOP, and XFORWARD from a trusted proxy. */
  ok: r(250, '2.0.0', 'OK'),
  /** QUIT: the session ends after it. */
  closing: r(221, '2.0.0', 'Service closing transmission channel'),
  /** MAIL FROM accepted. */
  senderOk: r(250, '2.1.0', 'Sender OK'),
  /** RCPT TO accepted. */
  recipientOk: r(250, '2.1.5', 'Recipient OK'),
  /** The message (or LMTP recipient) accepted at the end of the data. */
  messageAccepted: r(250, '2.0.0', 'Message accepted'),
  /** RSET. */
  resetOk: r(250, '2.0.0', 'Reset OK'),
  /** A BDAT chunk that is not the last one was read (the text gets its octet count). */
  chunkReceived: r(250, '2.0.0', 'Chunk received'),
  /** VRFY when no `vrfy` listener says more (RFC 5321 §3.5.3). */
  cannotVerify: r(252, '2.0.0', 'Cannot VRFY user, but will accept message and attempt delivery'),
  /** HELP when no `help` listener says more. */
  help: r(214, '2.0.0', 'See https://www.rfc-editor.org/rfc/rfc5321 for the commands'),
  /** STARTTLS accepted: the handshake starts after it. */
  readyToStartTls: r(220, '2.0.0', 'Ready to start TLS'),
  /** AUTH accepted. */
  authSucceeded: r(235, '2.7.0', 'Authentication succeeded'),
  // 3xx
  /** DATA accepted: send the message. */
  startData: r(354, null, 'End data with <CR><LF>.<CR><LF>'),
  // 4xx
  /** `maxErrors` failed commands: the session closes. */
  tooManyErrors: r(421, '4.7.0', 'Too many errors, closing connection'),
  /** `maxAuthFailures` refused AUTH attempts: the session closes. */
  tooManyAuthFailures: r(421, '4.7.0', 'Too many failed authentication attempts, closing connection'),
  /** SmtpServer at `maxConnections`: instead of the greeting, then close. */
  tooManyConnections: r(421, '4.7.0', 'Too many connections, try again later'),
  /** SmtpServer at `maxConnectionsPerAddress` for this client: instead of the greeting, then close. */
  tooManyConnectionsFromAddress: r(421, '4.7.0', 'Too many connections from your address, try again later'),
  /** `close()` or SmtpServer shutting down: to an idle session, then close. */
  shuttingDown: r(421, '4.3.2', 'Service shutting down, closing connection'),
  /** A command, data or session timeout: the session closes. */
  timeout: r(421, '4.4.2', 'Timeout, closing connection'),
  /** A decision listener threw something that is not an `SmtpError`. */
  localError: r(451, '4.3.0', 'Local error in processing, try again later'),
  /** AUTH: a credentials listener failed (threw something other than an SmtpError). RFC 4954 §6. */
  temporaryAuthFailure: r(454, '4.7.0', 'Temporary authentication failure'),
  /** A `connect` listener or the transport failed: the session closes. */
  localErrorClosing: r(421, '4.3.0', 'Local error in processing, closing connection'),
  /** RCPT TO beyond `maxRecipients`. */
  tooManyRecipients: r(452, '4.5.3', 'Too many recipients'),
  // 5xx: syntax and sequence
  /** A command or AUTH line longer than its limit (discarded unbuffered). */
  lineTooLong: r(500, '5.5.2', 'Line too long'),
  /** A command line with a bare CR or LF, under `lineEndings: reject`. */
  bareLineFeed: r(500, '5.5.2', 'Bare CR or LF in command line, use CRLF'),
  /** A verb smtpwire does not know. */
  unknownCommand: r(500, '5.5.1', 'Command unrecognized'),
  /** A command line that is not valid UTF-8. */
  invalidUtf8: r(500, '5.5.2', 'Command is not valid UTF-8'),
  /** HELO or EHLO in LMTP mode. */
  notLmtp: r(500, '5.5.1', 'This is an LMTP server, use LHLO'),
  /** Malformed arguments: a command, XCLIENT or an AUTH exchange. */
  syntaxError: r(501, '5.5.4', 'Syntax error in parameters or arguments'),
  /** A BDAT whose size cannot be read, so the chunk cannot be skipped: the session closes. */
  badBdatSyntax: r(501, '5.5.4', 'Malformed BDAT size, the chunk cannot be read; closing connection'),
  /** The same MAIL or RCPT parameter given twice. */
  duplicateParameter: r(501, '5.5.4', 'Duplicate parameter'),
  /** A MAIL or RCPT parameter with a value it cannot have. */
  badParameterValue: r(501, '5.5.4', 'Invalid parameter value'),
  /** HELO, EHLO or LHLO without a valid domain or address literal. */
  badHelo: r(501, '5.5.4', 'Syntax: EHLO domain-or-address-literal'),
  /** MAIL FROM with a malformed reverse-path. */
  badSenderSyntax: r(501, '5.1.7', 'Bad sender address syntax'),
  /** RCPT TO with a malformed forward-path. */
  badRecipientSyntax: r(501, '5.1.3', 'Bad recipient address syntax'),
  /** An AUTH response that is not valid base64. */
  badBase64: r(501, '5.5.2', 'Cannot decode base64 response'),
  /** The client answered an AUTH challenge with `*`. */
  authCancelled: r(501, '5.0.0', 'Authentication cancelled'),
  /** STARTTLS when it is not offered, and HELP refused by a listener. */
  commandNotImplemented: r(502, '5.5.1', 'Command not implemented'),
  /** EXPN when no `expn` listener accepts it. */
  expnDisabled: r(502, '5.5.1', 'EXPN not available'),
  /** BDAT with `chunking` off. */
  chunkingDisabled: r(502, '5.5.1', 'BDAT not available'),
  /** MAIL, DATA or BDAT before HELO/EHLO. */
  needHelo: r(503, '5.5.1', 'Send HELO/EHLO first'),
  /** An ESMTP command (AUTH, STARTTLS, BDAT) after HELO instead of EHLO. */
  needEhlo: r(503, '5.5.1', 'Send EHLO first, this command is an ESMTP extension'),
  /** RCPT TO once BDAT chunks have started. */
  rcptAfterData: r(503, '5.5.1', 'Recipients cannot be added once the data has started'),
  /** RCPT, DATA or BDAT before MAIL FROM. */
  needMail: r(503, '5.5.1', 'Need MAIL command first'),
  /** DATA or BDAT before an accepted RCPT TO. */
  needRcpt: r(503, '5.5.1', 'Need RCPT command first'),
  /** MAIL FROM inside a transaction. */
  nestedMail: r(503, '5.5.1', 'Sender already specified'),
  /** DATA after BDAT, or BDAT after DATA, in one transaction. */
  mixedDataAndBdat: r(503, '5.5.1', 'DATA and BDAT cannot be mixed in one transaction'),
  /** DATA in a transaction declared `BODY=BINARYMIME` (RFC 3030 §3). */
  binaryNeedsBdat: r(503, '5.6.1', 'BODY=BINARYMIME requires BDAT'),
  /** AUTH after a successful AUTH. */
  alreadyAuthenticated: r(503, '5.5.1', 'Already authenticated'),
  /** AUTH inside a mail transaction (RFC 4954 §4). */
  authInTransaction: r(503, '5.5.1', 'AUTH not allowed during a mail transaction'),
  /** STARTTLS on a connection that is already secure. */
  alreadySecure: r(503, '5.5.1', 'TLS already active'),
  /** XCLIENT or XFORWARD inside a mail transaction. */
  proxyInTransaction: r(503, '5.5.1', 'Not allowed during a mail transaction'),
  /** Any command but QUIT after the connection was refused. */
  rejectedConnection: r(503, '5.5.1', 'Connection rejected, only QUIT is accepted'),
  /** BDAT after the LAST chunk or after a refused chunk. */
  badBdatSequence: r(503, '5.5.1', 'BDAT after the LAST chunk or a failed chunk'),
  /** AUTH with a mechanism that is not offered. */
  unsupportedAuthMechanism: r(504, '5.5.4', 'Unrecognized authentication mechanism'),
  /** A MAIL or RCPT parameter of an extension that is off or unknown. */
  unknownParameter: r(555, '5.5.4', 'Parameter not recognized or not implemented'),
  // 5xx: policy
  /** MAIL FROM before AUTH under `authPolicy: required`. */
  authRequired: r(530, '5.7.0', 'Authentication required'),
  /** A command other than NOOP, EHLO (LHLO), STARTTLS or QUIT before TLS under `tlsPolicy: required`. */
  tlsRequired: r(530, '5.7.0', 'Must issue a STARTTLS command first'),
  /** AUTH before TLS with a mechanism that TLS would offer (RFC 4954 §6). */
  encryptionRequiredForAuth: r(538, '5.7.11', 'Encryption required for requested authentication mechanism'),
  /** AUTH refused by a listener. */
  authFailed: r(535, '5.7.8', 'Authentication credentials invalid'),
  /** XCLIENT or XFORWARD from a client outside `trustedProxies`. */
  proxyNotTrusted: r(550, '5.7.0', 'Insufficient authorization'),
  /** AUTH when AUTH is not enabled at all. */
  authForbidden: r(503, '5.5.1', 'Authentication not enabled'),
  /** HELO, EHLO or LHLO refused by an `ehlo` listener. */
  heloRejected: r(550, '5.7.1', 'Hello rejected'),
  /** MAIL FROM refused by a `sender` listener. */
  senderRejected: r(550, '5.7.1', 'Sender rejected'),
  /** RCPT TO refused by a `recipient` listener. */
  recipientRejected: r(550, '5.1.1', 'Recipient rejected'),
  /** DATA or the first BDAT refused by a `data` listener. */
  dataRejected: r(554, '5.7.1', 'Transaction rejected'),
  /** The message refused by a `message`, `headers` or `dataChunk` listener. */
  messageRejected: r(550, '5.7.1', 'Message rejected'),
  /** The data grew past `maxMessageSize` (read to the end, then refused). */
  messageTooBig: r(552, '5.3.4', 'Message size exceeds fixed maximum message size'),
  /** MAIL FROM whose `SIZE=` is over `maxMessageSize` (RFC 1870). */
  declaredSizeTooBig: r(552, '5.3.4', 'Declared message size exceeds fixed maximum message size'),
  /** A non-ASCII recipient in a transaction without `SMTPUTF8` (RFC 6531 §3.5). */
  utf8NotDeclared: r(553, '5.6.7', 'Non-ASCII address needs the SMTPUTF8 parameter'),
  /** A non-ASCII reverse-path at MAIL without the `SMTPUTF8` parameter (RFC 6531 §3.5). */
  utf8SenderNotDeclared: r(550, '5.6.7', 'Non-ASCII address needs the SMTPUTF8 parameter'),
  /** RCPT TO:<> (the null path). */
  nullRecipient: r(553, '5.1.3', 'The null path is only valid as a sender'),
  /** Message data with a bare CR or LF, under `lineEndings: reject` (SMTP smuggling). */
  bareLineEnding: r(550, '5.6.0', 'Message contains a bare CR or LF, line endings must be CRLF'),
  /** A message line longer than `maxTextLineLength`. */
  textLineTooLong: r(550, '5.6.0', 'Message contains a line longer than the limit'),
  /** A connection refused by a `connect` listener: instead of the greeting. */
  connectionRejected: r(554, '5.7.1', 'No SMTP service here'),
  /** VRFY refused by a `vrfy` listener. */
  vrfyRejected: r(550, '5.1.1', 'User unknown'),
  /** EXPN refused by an `expn` listener. */
  expnRejected: r(550, '5.1.1', 'List unknown'),
})

/** The name of a catalogue entry. */
export type ReplyKey = keyof typeof REPLIES

const CRLF = '\r\n'

/** The text of a reply as lines, with any CR or LF inside a line turned into a line break. */
function textLines(text: string | readonly string[]): readonly string[] {
  // Most texts are one line without a break: no split (a regex split per reply shows in profiles).
  if (typeof text === 'string' && !hasBreak(text)) return [text]
  const parts = typeof text === 'string' ? [text] : text
  const lines: string[] = []
  for (const part of parts) {
    if (hasBreak(part)) for (const line of part.split(/\r\n|\r|\n/)) lines.push(line)
    else lines.push(part)
  }
  return lines.length > 0 ? lines : ['']
}

function hasBreak(text: string): boolean {
  return text.includes('\n') || text.includes('\r')
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
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string
    const sep = i === lines.length - 1 ? ' ' : '-'
    const body = enhanced === null || line === '' ? (enhanced ?? line) : `${enhanced} ${line}`
    // RFC 5321 §4.2: the text after the last line's code is optional, so an empty one ends at the
    // code; but RFC 4954 §4 writes an empty SASL challenge as "334 " with its space.
    const bare = body === '' && sep === ' ' && reply.code !== 334
    out += bare ? `${reply.code}${CRLF}` : `${reply.code}${sep}${body}${CRLF}`
  }
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

// Replies whose text depends on the server's name or the exchange: built here, so every reply
// text sent lives in this file.

/** The 220 greeting: `<domain> <greeting text>` (RFC 5321 §4.2: no enhanced code before EHLO). */
export function greetingReply(domain: string, greeting: string): Reply {
  return { code: 220, enhanced: null, text: `${domain} ${greeting}` }
}

const GREETS = ' greets '

/** 250 to HELO (one line), or to EHLO/LHLO with its keyword lines (RFC 2034 §3: no enhanced codes). */
export function helloReply(domain: string, clientName: string, keywords: readonly string[] | null): Reply {
  const first = `${domain}${GREETS}${clientName}`
  return { code: 250, enhanced: null, text: keywords ? [first, ...keywords] : first }
}

// The keyword lines of EHLO replies, formatted once per frozen keyword list (offeredKeywords).
const keywordLines = new WeakMap<readonly string[], Buffer>()

/**
 * The wire bytes of `helloReply(domain, clientName, keywords)`, with `keywords` (when frozen)
 * formatted once and kept: only the first line, which names the client, is new per EHLO.
 */
export function formatHelloReply(domain: string, clientName: string, keywords: readonly string[]): Buffer {
  if (keywords.length === 0 || !Object.isFrozen(keywords) || hasBreak(domain) || hasBreak(clientName)) {
    return formatReply(helloReply(domain, clientName, keywords), false)
  }
  let tail = keywordLines.get(keywords)
  if (!tail) {
    // The lines after the first are formatted alike whatever comes before them.
    tail = formatReply({ code: 250, enhanced: null, text: keywords }, false)
    keywordLines.set(keywords, tail)
  }
  // "250-<domain> greets <client>" CRLF, written straight into the reply's buffer.
  const domainEnd = 4 + Buffer.byteLength(domain, 'utf8')
  const nameAt = domainEnd + GREETS.length
  const head = nameAt + Buffer.byteLength(clientName, 'utf8') + 2
  const bytes = Buffer.allocUnsafe(head + tail.length)
  bytes.write('250-', 0, 'latin1')
  bytes.write(domain, 4, 'utf8')
  bytes.write(GREETS, domainEnd, 'latin1')
  bytes.write(clientName, nameAt, 'utf8')
  bytes.write(CRLF, head - 2, 'latin1')
  tail.copy(bytes, head)
  return bytes
}

/** 221 to QUIT, naming the server. */
export function closingReply(domain: string): Reply {
  return withText(REPLIES.closing, `${domain} Service closing transmission channel`)
}

/** 334: a SASL challenge (base64, possibly empty) during AUTH (RFC 4954 §4). */
export function challengeReply(challenge: string): Reply {
  return { code: 334, enhanced: null, text: challenge }
}

/** 250 to a BDAT chunk that is not the last, counting its octets (RFC 3030 §2). */
export function chunkReceivedReply(octets: number): Reply {
  return withText(REPLIES.chunkReceived, `${octets} octets received`)
}
