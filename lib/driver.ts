// An in-memory client for SmtpProtocol: send lines, get back exact reply text, with no sockets.
// The specs drive the protocol through it, and users can test their listeners the same way.

import { SmtpProtocol } from './protocol.js'
import type { SmtpOptions } from './options.js'
import type { SessionFacts, TlsInfo } from './session.js'
import type { SmtpTransport } from './transport.js'

/** How the in-memory connection behaves. */
export interface DriverOptions {
  /**
   * Offer STARTTLS: called when the protocol upgrades. Resolve with the TLS state to simulate a
   * handshake (later input counts as decrypted), or reject to simulate a failed one.
   */
  startTls?: () => Promise<TlsInfo>
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

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
    const startTls = this.options.startTls
    if (startTls) transport.upgrade = () => startTls()
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

  /** Waits until every listener settled and all input was read; returns the replies since the last call. */
  async settle(): Promise<string[]> {
    do await nextTurn()
    while (this.protocol.isWaiting)
    return this.replies.splice(0)
  }

  /** The client goes away (EOF) and the replies written before the end are returned. */
  async end(): Promise<string[]> {
    this.protocol.end()
    return this.settle()
  }

  private take(text: string): void {
    this.transcript += text
    this.replies.push(...this.splitter.push(text))
  }
}
