// An in-memory client for SmtpProtocol: send lines, get back exact reply text, with no sockets.
// The specs drive the protocol through it, and users can test their listeners the same way.

import type { SmtpEvents } from './events.js'
import { SmtpProtocol } from './protocol.js'
import type { SmtpOptions } from './options.js'
import type { SessionFacts, TlsInfo } from './session-info.js'
import type { SmtpTransport } from './transport.js'

/** How the in-memory connection behaves. */
export interface DriverOptions {
  /**
   * Offer STARTTLS: the simulated TLS handshake, called when the protocol upgrades. Resolve with
   * the TLS state (later input counts as decrypted), or reject to simulate a failed handshake.
   */
  handshake?: () => Promise<TlsInfo>
  /** @deprecated The former name of `handshake`, still honoured. */
  startTls?: () => Promise<TlsInfo>
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/**
 * The events `recordEvents()` listens to by default: those whose mere listener changes nothing.
 * Left out: `dataChunk` (under `collectBody: 'auto'` it stops `message.body` being collected),
 * `headers` (starts the header scanner), `plainAuth` and `auth` (offer AUTH and accept any
 * credentials), `vrfy`, `expn` and `help` (a listener answers them), `tlsError`, `secure`.
 */
export const RECORDED_EVENTS: ReadonlyArray<keyof SmtpEvents> = Object.freeze([
  'connect',
  'ehlo',
  'sender',
  'recipient',
  'data',
  'message',
  'reset',
  'transaction',
  'authFailure',
  'close',
  'error',
] as const)

/**
 * Records `events` of `protocol` as short strings, in the order they fire: the event's name, or
 * for the events that need a detail to tell them apart `transaction:<reason>`,
 * `close:<reason>` (`:aborted` when a message was cut off) and `error:<event>`. The listeners
 * accept whatever they are asked. Returns the live log.
 */
export function recordEvents(protocol: SmtpProtocol, events: ReadonlyArray<keyof SmtpEvents> = RECORDED_EVENTS): string[] {
  const log: string[] = []
  for (const name of events) {
    protocol.on(name, (event: SmtpEvents[typeof name]) => {
      const e = event as { reason?: string; aborted?: boolean; event?: string | null }
      if (name === 'transaction') log.push(`transaction:${e.reason}`)
      else if (name === 'close') log.push(`close:${e.reason}${e.aborted ? ':aborted' : ''}`)
      else if (name === 'error') log.push(`error:${e.event}`)
      else log.push(name)
    })
  }
  return log
}

/** Message text as DATA sends it: a dot doubled at the start of each line, CRLF added when missing, then CRLF.CRLF. */
function dataBody(body: string | Buffer): Buffer {
  let text = (typeof body === 'string' ? Buffer.from(body, 'utf8') : body).toString('latin1')
  text = text.replace(/(^|\r\n)\./g, '$1..')
  if (text !== '' && !text.endsWith('\r\n')) text += '\r\n'
  return Buffer.from(`${text}.\r\n`, 'latin1')
}

/**
 * Splits reply text as it arrives (in any pieces) into whole replies, each one string with its
 * lines joined by `\n` and no CRLF.
 */
export class ReplySplitter {
  private partial = ''
  private lines: string[] = []

  /** Takes more text; returns the replies it completed. */
  push(text: string): string[] {
    const replies: string[] = []
    const parts = (this.partial + text).split('\r\n')
    this.partial = parts.pop() ?? ''
    for (const line of parts) {
      this.lines.push(line)
      // RFC 5321 §4.2.1: the last line of a reply has a space (or nothing) after the code.
      if (line.length <= 3 || line[3] === ' ') replies.push(this.lines.splice(0).join('\n'))
    }
    return replies
  }
}

/**
 * Drives an `SmtpProtocol` in memory. Each reply is one string, its lines joined by `\n`
 * without CRLF: `'250 2.1.0 Sender OK'`, `'250-mx greets c\n250 PIPELINING'`.
 *
 * @example
 * const smtp = new SmtpProtocol({ domain: 'mx.test' })
 * smtp.on('recipient', ({ address }) => address.domain === 'example.org')
 * const client = new SmtpDriver(smtp)
 * await client.connect()                          // '220 mx.test ESMTP smtpwire'
 * await client.command('EHLO client.test')
 * await client.send('MAIL FROM:<a@b.test>', 'RCPT TO:<x@elsewhere.test>')
 * // → ['250 2.1.0 Sender OK', '550 5.1.1 Recipient rejected']
 */
export class SmtpDriver {
  /** The protocol being driven: the one given, or a new one made from the options given. */
  readonly protocol: SmtpProtocol
  /** True once the protocol ended the connection (after 221 or 421). */
  ended = false
  /** True while the protocol has asked for input to pause. */
  paused = false
  /** Every byte the protocol wrote, as text. */
  transcript = ''
  private readonly splitter = new ReplySplitter()
  private readonly replies: string[] = []

  constructor(
    protocol: SmtpProtocol | SmtpOptions = {},
    private readonly options: DriverOptions = {},
  ) {
    this.protocol = protocol instanceof SmtpProtocol ? protocol : new SmtpProtocol(protocol)
  }

  /** Opens the session and returns the greeting (or whatever the `connect` listeners chose). */
  async connect(facts: SessionFacts = { remoteAddress: '192.0.2.1', remotePort: 40000 }): Promise<string> {
    const transport: SmtpTransport = {
      write: (chunk) => {
        this.take(chunk.toString('utf8'))
        return true
      },
      end: () => {
        this.ended = true
      },
      pause: () => {
        this.paused = true
      },
      resume: () => {
        this.paused = false
      },
    }
    const handshake = this.options.handshake ?? this.options.startTls
    if (handshake) transport.upgrade = () => handshake()
    this.protocol.open(transport, facts)
    const [greeting] = await this.settle()
    return greeting ?? ''
  }

  /** Writes raw bytes or text (UTF-8 for strings) without waiting. */
  write(data: string | Buffer): void {
    this.protocol.feed(typeof data === 'string' ? Buffer.from(data, 'utf8') : data)
  }

  /** Sends lines in one write (pipelined), each with CRLF, and returns every reply they produced. */
  async send(...lines: string[]): Promise<string[]> {
    this.write(lines.map((line) => `${line}\r\n`).join(''))
    return this.settle()
  }

  /** Sends one command line and returns its reply. */
  async command(line: string): Promise<string> {
    const replies = await this.send(line)
    if (replies.length !== 1) throw new Error(`expected one reply to ${JSON.stringify(line)}, got ${JSON.stringify(replies)}`)
    return replies[0] as string
  }

  /**
   * Waits until every listener settled and all input was read; returns the replies since the last
   * call. It sleeps on the protocol's idle state while a verdict is pending (a listener that never
   * settles keeps it waiting, as it keeps the client waiting), and also waits for listeners that
   * run without deciding anything, such as `close` and `transaction` after `end()`.
   */
  async settle(): Promise<string[]> {
    do {
      await nextTurn()
      await this.protocol.whenIdle()
      await this.protocol.settled()
    } while (this.protocol.isWaiting)
    return this.replies.splice(0)
  }

  /** The client goes away (EOF) and the replies written before the end are returned. */
  async end(): Promise<string[]> {
    this.protocol.end()
    return this.settle()
  }

  /** EHLO (LHLO under `lmtp`) with `name`; returns the reply, its lines joined by `\n`. */
  async ehlo(name = 'client.test'): Promise<string> {
    return this.command(`${this.protocol.options.lmtp ? 'LHLO' : 'EHLO'} ${name}`)
  }

  /** `MAIL FROM:<from>`, with `params` (`'SIZE=100 SMTPUTF8'`) when given; returns the reply. */
  async mail(from: string, params = ''): Promise<string> {
    return this.command(`MAIL FROM:<${from}>${params === '' ? '' : ` ${params}`}`)
  }

  /** `RCPT TO:<to>`, with `params` (`'NOTIFY=NEVER'`) when given; returns the reply. */
  async rcpt(to: string, params = ''): Promise<string> {
    return this.command(`RCPT TO:<${to}>${params === '' ? '' : ` ${params}`}`)
  }

  /**
   * DATA, then `body` (lines ending in CRLF) dot-stuffed and ended with CRLF.CRLF, a CRLF added
   * when the body does not end with one. Returns the replies to the message: one, or one per
   * recipient under LMTP; when DATA itself is refused, that reply alone.
   *
   * @example
   * await client.ehlo()
   * await client.mail('a@b.test')
   * await client.rcpt('c@mx.test')
   * await client.data('Subject: hi\r\n\r\n.leading dot\r\n')   // → ['250 2.0.0 Message accepted']
   */
  async data(body: string | Buffer): Promise<string[]> {
    const start = await this.command('DATA')
    if (!start.startsWith('354')) return [start]
    this.write(dataBody(body))
    return this.settle()
  }

  /**
   * Records the protocol's events from now on as short strings (see {@link recordEvents}), by
   * default {@link RECORDED_EVENTS}. Returns the live log: `['sender', 'recipient', 'data',
   * 'message', 'transaction:delivered']`.
   */
  recordEvents(events: ReadonlyArray<keyof SmtpEvents> = RECORDED_EVENTS): string[] {
    return recordEvents(this.protocol, events)
  }

  private take(text: string): void {
    this.transcript += text
    this.replies.push(...this.splitter.push(text))
  }
}
