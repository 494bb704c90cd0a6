// SmtpProtocol: the public, transport-agnostic SMTP server protocol handler. A thin facade over
// the engine: typed listeners, options, and the ways bytes get in and out. Never imports net/tls.

import type { Duplex } from 'node:stream'
import { attachStream, type StreamUpgrade } from './attach.js'
import { Engine } from './engine.js'
import { Listeners, type Listener, type SmtpEvents } from './events.js'
import type { ResolvedOptions, SmtpOptions } from './options.js'
import { REPLIES, type Reply } from './replies.js'
import type { SessionFacts, SessionInfo, TransactionInfo } from './session-info.js'
import { sharedOptions } from './shared-options.js'
import type { SmtpTransport } from './transport.js'

/**
 * The server side of one SMTP session, over any transport.
 *
 * Register listeners, then `attach()` a Duplex stream (or `open()` a transport and `feed()` it
 * bytes). Decision listeners (`ehlo`, `sender`, `recipient`, `data`, `headers`, `dataChunk`,
 * `message`, `plainAuth`, `vrfy`, `expn`, `help`, `connect`) answer by returning `true`/nothing
 * (accept), `false` (the command's default rejection), an `SmtpReply`, or a Promise of those; the
 * reply is sent once every listener settled, and no further input is read meanwhile. Throwing an
 * `SmtpError` sends exactly its reply (a 421 also closes); any other exception sends the command's
 * temporary failure (`451 4.3.0` for most) and is emitted on `error`; the session goes on.
 *
 * @example
 * const smtp = new SmtpProtocol({ domain: 'mx.example.org' })
 * smtp.on('recipient', ({ address }) => address.domain === 'example.org')
 * smtp.on('message', async ({ transaction, body }) => { await store(transaction, body) })
 * smtp.attach(socket)
 */
export class SmtpProtocol {
  /** The options in force, defaults filled in. */
  readonly options: ResolvedOptions
  private readonly listeners = new Listeners()
  private readonly engine: Engine

  /**
   * `options` may also be another session's `options`, which are used as they are (SmtpServer
   * resolves each listener's options once and hands them to every session); equal options given
   * again are resolved once and shared too.
   * @throws SmtpwireError `SMTPWIRE_ERR_INVALID_OPTION` for a bad option.
   */
  constructor(options?: SmtpOptions | ResolvedOptions) {
    this.options = sharedOptions(options)
    this.engine = new Engine(this.options, this.listeners)
  }

  /** Adds a listener for `event`. Listeners run in the order they were added. */
  on<K extends keyof SmtpEvents>(event: K, listener: Listener<K>): this {
    this.listeners.add(event, listener)
    return this
  }

  /** Adds a listener that runs once, then is removed; `off()` with the same function removes it before. */
  once<K extends keyof SmtpEvents>(event: K, listener: Listener<K>): this {
    const wrapper = Object.assign(
      (payload: SmtpEvents[K]) => {
        this.listeners.remove(event, wrapper)
        return listener(payload)
      },
      { listener },
    ) as Listener<K>
    this.listeners.add(event, wrapper)
    return this
  }

  /** Removes a listener. */
  off<K extends keyof SmtpEvents>(event: K, listener: Listener<K>): this {
    this.listeners.remove(event, listener)
    return this
  }

  /** How many listeners `event` has. */
  listenerCount(event: keyof SmtpEvents): number {
    return this.listeners.count(event)
  }

  /** The session: addresses, HELO name, TLS and AUTH state, counters. Updated in place. */
  get session(): SessionInfo {
    return this.engine.session.info
  }

  /** The open mail transaction, or null. */
  get transaction(): TransactionInfo | null {
    return this.engine.session.transaction
  }

  /** True once the session has ended. */
  get closed(): boolean {
    return this.engine.closed
  }

  /**
   * Resolves once every Promise returned by listeners so far has settled (a `message` listener still
   * writing when the client left, a `transaction` listener cleaning up): after `close`, when the
   * session's work is done. `SmtpServer.close()` waits for it (up to its `closeTimeout`). A
   * Promise given up on after `listenerTimeout` is no longer waited for.
   */
  settled(): Promise<void> {
    return this.engine.settled()
  }

  /**
   * True while a Promise returned by a listener has not settled: `settled()` would wait. For
   * SmtpServer, which asks for `settled()` only then.
   * @internal
   */
  get hasPendingWork(): boolean {
    return this.engine.hasPendingWork
  }

  /**
   * Octets of client input the session holds now: input not yet read, a partial command line, and
   * message data not yet handed to listeners (plus the collected body, when it is collected). For
   * monitoring: the limits keep it bounded whatever the client sends.
   */
  get bufferedInput(): number {
    return this.engine.bufferedInput
  }

  /** True while a listener's Promise is pending (input is paused meanwhile). */
  get isWaiting(): boolean {
    return this.engine.isWaiting
  }

  /** Resolves once no listener's verdict is pending (at once when none is), without polling. */
  whenIdle(): Promise<void> {
    return this.engine.whenIdle()
  }

  /**
   * Runs the session over `stream`: writes the greeting, reads commands, and ends the stream after
   * QUIT. Reading stops while `options.maxQueuedReplyOctets` reply octets wait in the stream for a
   * client that does not read them. `facts` tells listeners where the client is (a socket's addresses, say). `upgrade`,
   * when given, offers STARTTLS and upgrades the stream through it (`SmtpServer` passes one built
   * from its `tls` options).
   * @throws SmtpwireError `SMTPWIRE_ERR_ALREADY_STARTED` when called twice.
   */
  attach(stream: Duplex, facts?: SessionFacts, upgrade?: StreamUpgrade): this {
    attachStream(this, stream, this.options.maxQueuedReplyOctets, facts, upgrade)
    return this
  }

  /**
   * Starts the session on a transport without a stream: replies go to `transport.write`, input comes
   * from `feed()`. The greeting is written at once (after `connect` listeners, if any).
   * @throws SmtpwireError `SMTPWIRE_ERR_ALREADY_STARTED` when called twice.
   */
  open(transport: SmtpTransport, facts?: SessionFacts): this {
    this.engine.open(transport, facts)
    return this
  }

  /**
   * Gives the protocol bytes from the client. The protocol keeps a reference to `chunk` (no copy),
   * so do not reuse it. Returns false when the caller should pause until `transport.resume()`.
   */
  feed(chunk: Buffer): boolean {
    return this.engine.feed(chunk)
  }

  /**
   * The client finished sending. Commands already fed are still answered, then the session ends;
   * but when a listener is deciding and nothing was fed after that command, the client has left
   * without waiting for the answer, and the session ends at once (`close` reason `peer`).
   */
  end(): void {
    this.engine.end()
  }

  /** The connection is gone; nothing more can be written. `error` is reported unless it is a reset. */
  destroy(error?: Error): void {
    this.engine.destroy(error)
  }

  /** The transport can take writes again after `write()` returned false. */
  drained(): void {
    this.engine.drained()
  }

  /**
   * Ends the session gracefully with `421 4.3.2`: at once when it is idle; a message being received
   * is read to its end and answered first, and any command that arrives meanwhile gets the 421.
   */
  shutdown(): void {
    this.engine.shutdown()
  }

  /** Ends the session now with `reply` (default `421 4.3.2 Service shutting down`). */
  close(reply: Reply = REPLIES.shuttingDown): void {
    this.engine.close('shutdown', reply)
  }
}
