// SmtpServer: SmtpProtocol on net.Server. Accepts connections on one or more listeners, gives each
// a protocol with the session's addresses, and shuts down gracefully. Socket glue only; every
// protocol rule lives in the core.

import { EventEmitter } from 'node:events'
import net from 'node:net'
import type { Duplex } from 'node:stream'
import type { StreamUpgrade } from './attach.js'
import { SmtpwireError } from './errors.js'
import type { SmtpOptions } from './options.js'
import { resolveOptions } from './options.js'
import { SmtpProtocol } from './protocol.js'
import type { TlsInfo } from './session.js'
import { tlsUpgrade, type TlsOptions } from './tls.js'

/** Options of an SmtpServer: every SmtpProtocol option, applied to each session, and TLS. */
export interface SmtpServerOptions extends SmtpOptions {
  /** Key and certificate (and other TLS options): STARTTLS is offered, and secure listeners can start. */
  tls?: TlsOptions
}

/** Options of one listener. */
export interface ListenOptions {
  /** Implicit TLS (SMTPS, the port 465 style): the TLS handshake comes first, then the greeting. Needs `tls`. */
  secure?: boolean
}

/** Called for each new session before its greeting: register listeners on `smtp` here. */
export type SessionHandler = (smtp: SmtpProtocol, socket: Duplex) => void

/** Where a listener is bound. */
export interface ListenAddress {
  readonly address: string
  readonly port: number
  readonly family: string
}

/** A session's facts as the server knows them at its start. */
interface SessionStart {
  remoteAddress: string
  remotePort: number
  localAddress: string
  localPort: number
  connectedAt: Date
  tls: TlsInfo | null
}

// After the protocol ended a session, a client that never closes its side is cut off after this.
const LINGER_MS = 10_000

/**
 * An SMTP server on `net.Server`, shaped like `http.createServer`.
 *
 * @example
 * const server = new SmtpServer({ domain: 'mx.example.org' }, (smtp) => {
 *   smtp.on('message', async ({ body }) => { await save(body) })
 * })
 * const { port } = await server.listen(2525, '127.0.0.1')
 */
export class SmtpServer extends EventEmitter {
  private readonly netServers: net.Server[] = []
  private readonly sessions = new Set<SmtpProtocol>()
  private closing: Promise<void> | null = null
  private readonly options: SmtpOptions
  private readonly startTls: StreamUpgrade | undefined
  private readonly implicitTls: StreamUpgrade | undefined

  /** @throws SmtpwireError `SMTPWIRE_ERR_INVALID_OPTION` for a bad option. */
  constructor(
    options: SmtpServerOptions,
    private readonly handler: SessionHandler,
  ) {
    super()
    const { tls, ...protocolOptions } = options
    resolveOptions(protocolOptions) // fail now, not at the first connection
    this.options = protocolOptions
    this.startTls = tls ? tlsUpgrade(tls, false) : undefined
    this.implicitTls = tls ? tlsUpgrade(tls, true) : undefined
  }

  /** Sessions currently open. */
  get sessionCount(): number {
    return this.sessions.size
  }

  /** Addresses of every listener. */
  addresses(): ListenAddress[] {
    return this.netServers.flatMap((server) => {
      const address = server.address()
      return address && typeof address === 'object' ? [{ address: address.address, port: address.port, family: address.family }] : []
    })
  }

  /**
   * Starts a listener; call again for more ports or addresses. Port 0 picks a free port.
   * Resolves with the address bound; rejects with the listen error (e.g. EADDRINUSE).
   * @throws SmtpwireError `SMTPWIRE_ERR_TLS` for a secure listener on a server without `tls`.
   */
  listen(port = 0, host?: string, options: ListenOptions = {}): Promise<ListenAddress> {
    if (options.secure && !this.implicitTls) {
      throw new SmtpwireError('SMTPWIRE_ERR_TLS', 'a secure listener needs the server\'s `tls` option (key and certificate)')
    }
    const server = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket, options))
    return new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => {
        server.off('error', reject)
        server.on('error', (error) => this.reportError(error))
        this.netServers.push(server)
        const address = server.address() as net.AddressInfo
        resolve({ address: address.address, port: address.port, family: address.family })
      })
    })
  }

  /**
   * Stops accepting connections and shuts every session down gracefully (see
   * `SmtpProtocol.shutdown`). Resolves once every connection is gone.
   */
  close(): Promise<void> {
    this.closing ??= this.shutDown()
    return this.closing
  }

  private async shutDown(): Promise<void> {
    const stopped = this.netServers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())))
    for (const smtp of this.sessions) smtp.shutdown()
    await Promise.all(stopped)
  }

  /** An 'error' event with no listener would throw; a server must not die of it. */
  private reportError(error: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', error)
    else process.emitWarning(error instanceof Error ? error : new Error(String(error)))
  }

  private accept(socket: net.Socket, options: ListenOptions): void {
    socket.setNoDelay(true)
    const facts = {
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      localAddress: socket.localAddress ?? '',
      localPort: socket.localPort ?? 0,
      connectedAt: new Date(),
    }
    if (!options.secure || !this.implicitTls) {
      this.startSession(socket, socket, { ...facts, tls: null })
      return
    }
    // SMTPS: no session (and no greeting) before the handshake is done.
    socket.on('error', () => undefined)
    this.implicitTls(socket).then(
      ({ stream, tls }) => this.startSession(stream, socket, { ...facts, tls }),
      (error: unknown) => {
        if (this.listenerCount('tlsError') > 0) this.emit('tlsError', error, facts)
      },
    )
  }

  private startSession(stream: Duplex, socket: net.Socket, facts: SessionStart): void {
    const smtp = new SmtpProtocol(this.options)
    this.sessions.add(smtp)
    smtp.on('close', () => {
      this.sessions.delete(smtp)
      // The protocol ended its side; a peer that never closes its own is not waited for forever.
      setTimeout(() => socket.destroy(), LINGER_MS).unref()
    })
    try {
      this.handler(smtp, stream)
    } catch (error) {
      this.reportError(error)
      this.sessions.delete(smtp)
      socket.destroy()
      return
    }
    smtp.attach(stream, facts, facts.tls ? undefined : this.startTls)
  }
}
