// SmtpServer: SmtpProtocol on net.Server. Listeners (plain, implicit TLS, behind PROXY protocol,
// each with its own options), connection and processing limits, reverse DNS, and a two-stage
// graceful shutdown. Socket glue only; every protocol rule lives in the core.

import { EventEmitter } from 'node:events'
import net from 'node:net'
import type { Duplex } from 'node:stream'
import type { StreamUpgrade } from './attach.js'
import { ConnectionLimits, ConnectionSlot } from './connection-limits.js'
import { SmtpwireError } from './errors.js'
import { ProcessingGate } from './gate.js'
import { SILENT, type Logger } from './logger.js'
import { checkTimeout, resolveOptions, type ResolvedOptions, type SmtpOptions } from './options.js'
import { SmtpProtocol } from './protocol.js'
import { readProxyHeader } from './proxy.js'
import { formatReply, REPLIES, type Reply } from './replies.js'
import { reverseLookup, type ReverseLookup } from './reverse-dns.js'
import type { ListenAddress, ListenOptions, SessionHandler, SmtpServerEvents, SmtpServerOptions } from './server-options.js'
import type { SessionFacts } from './session-info.js'
import { implicitHandshake, STREAM_BUFFER_OCTETS, tlsUpgrade } from './tls.js'

export type { ListenAddress, ListenOptions, SessionHandler, SmtpServerEvents, SmtpServerOptions } from './server-options.js'

/**
 * An SMTP server on `net.Server`, shaped like `http.createServer`.
 *
 * @example
 * const server = new SmtpServer({ domain: 'mx.example.org' }, (smtp) => {
 *   smtp.on('message', async ({ body }) => { await save(body) })
 * })
 * const { port } = await server.listen(2525, '127.0.0.1')
 */
export class SmtpServer extends EventEmitter<SmtpServerEvents> {
  private readonly netServers: net.Server[] = []
  /** Accepted sockets until their 'close', each with its session while one is open. */
  private readonly connections = new Set<Connection>()
  private openSessions = 0
  private onSocketsClosed: Array<() => void> = []
  private readonly limits: ConnectionLimits
  /** Cleanup still running in closed sessions' listeners (see `SmtpProtocol.settled`). */
  private readonly finishing = new Set<Promise<void>>()
  /**
   * Sessions that closed in this turn of the event loop: their `close` listeners may still return
   * Promises, so whether they have cleanup running is looked at once the turn is over.
   */
  private closedThisTurn: SmtpProtocol[] = []
  private readonly checkClosed = (): void => this.trackCleanup()
  private closing: Promise<void> | null = null
  private readonly options: SmtpOptions
  private readonly server: Omit<SmtpServerOptions, keyof SmtpOptions>
  private readonly starttlsUpgrade: StreamUpgrade | undefined
  private readonly implicitTls: StreamUpgrade | undefined
  private readonly lookup: ReverseLookup | null
  private readonly log: Logger

  /** @throws SmtpwireError `SMTPWIRE_ERR_INVALID_OPTION` or `SMTPWIRE_ERR_TLS` for bad options. */
  constructor(
    options: SmtpServerOptions,
    private readonly handler: SessionHandler,
  ) {
    super()
    const { tls, maxConnections = 0, maxConnectionsPerAddress = 0, maxProcessing = 0, reverseDns = false, closeTimeout = 30_000, lingerTimeout = 5_000, signal, ...protocol } = options
    for (const [name, value] of Object.entries({ maxConnections, maxConnectionsPerAddress, maxProcessing })) {
      if (!Number.isSafeInteger(value) || value < 0) throw new SmtpwireError('SMTPWIRE_ERR_INVALID_OPTION', `option \`${name}\` must be an integer >= 0, got ${value}`)
    }
    checkTimeout('closeTimeout', closeTimeout)
    checkTimeout('lingerTimeout', lingerTimeout)
    this.server = { maxConnections, maxConnectionsPerAddress, maxProcessing, closeTimeout, lingerTimeout }
    this.limits = new ConnectionLimits(maxConnections, maxConnectionsPerAddress)
    this.options = { ...protocol, gate: maxProcessing > 0 ? new ProcessingGate(maxProcessing) : null }
    resolveOptions(this.options) // fail now, not at the first connection
    this.starttlsUpgrade = tls ? tlsUpgrade(tls, false) : undefined
    this.implicitTls = tls ? tlsUpgrade(tls, true) : undefined
    this.lookup = reverseDns === true ? reverseLookup(5_000) : reverseDns || null
    this.log = protocol.logger ?? SILENT
    signal?.addEventListener('abort', () => void this.close(), { once: true })
  }

  /** Sessions currently open. */
  get sessionCount(): number {
    return this.openSessions
  }

  /** Addresses of every listener. */
  addresses(): ListenAddress[] {
    return this.netServers.flatMap((server) => {
      const address = server.address()
      return address && typeof address === 'object' ? [{ address: address.address, port: address.port, family: address.family }] : []
    })
  }

  /**
   * Starts a listener; call again for more ports, addresses (IPv4 or IPv6) or options. Port 0 picks
   * a free port. Resolves with the address bound; rejects with the listen error (e.g. EADDRINUSE).
   * @throws SmtpwireError `SMTPWIRE_ERR_TLS` for a secure listener without `tls`; `SMTPWIRE_ERR_INVALID_OPTION`.
   */
  listen(port = 0, host?: string, listener: ListenOptions = {}): Promise<ListenAddress> {
    if (listener.secure && !this.implicitTls) {
      throw new SmtpwireError('SMTPWIRE_ERR_TLS', 'a secure listener needs the server\'s `tls` option (key and certificate)')
    }
    // Resolved once per listener, not per connection: every session of it shares the frozen result.
    const options = resolveOptions(listener.options ? { ...this.options, ...listener.options } : this.options)
    if (listener.proxyTimeout !== undefined) checkTimeout('proxyTimeout', listener.proxyTimeout, 1)
    // Every connection to a listener bound to one address has that address and port as its own:
    // read once when listening, not with a getsockname per connection (a wildcard listener asks each socket).
    const local: { address: string; port: number } = { address: '', port: 0 }
    const server = net.createServer({ allowHalfOpen: true, highWaterMark: STREAM_BUFFER_OCTETS }, (socket) =>
      this.accept(socket, listener, options, local.address === '' ? null : local),
    )
    return new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => {
        server.off('error', reject)
        server.on('error', (error) => this.reportError(error))
        this.netServers.push(server)
        const address = server.address() as net.AddressInfo
        if (!isWildcard(address.address)) {
          local.address = address.address
          local.port = address.port
        }
        const kind = [listener.secure && 'implicit TLS', listener.proxyProtocol && 'PROXY protocol'].filter(Boolean).join(', ')
        this.log.info(`listening on ${address.address}:${address.port}${kind ? ` (${kind})` : ''}`)
        resolve({ address: address.address, port: address.port, family: address.family })
      })
    })
  }

  /**
   * Stops accepting connections and shuts every session down gracefully (see
   * `SmtpProtocol.shutdown`); sessions still open after `closeTimeout` are cut off, so nothing is
   * acknowledged that is not finished. Resolves once every connection is gone.
   */
  close(): Promise<void> {
    this.closing ??= this.shutDown()
    return this.closing
  }

  private async shutDown(): Promise<void> {
    this.log.info(`closing: ${this.openSessions} sessions open`)
    const stopped = this.netServers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())))
    for (const { session } of this.connections) session?.shutdown()
    let force: ReturnType<typeof setTimeout> | undefined
    const timedOut = new Promise<boolean>((resolve) => (force = setTimeout(() => resolve(true), this.server.closeTimeout).unref()))
    // net.Server counts a destroyed socket as gone before its 'close' event reaches the session:
    // wait for every 'close', so each session has ended, then for the sessions' own cleanup.
    const finished = Promise.all(stopped)
      .then(() => this.socketsClosed())
      .then(() => {
        this.trackCleanup() // sessions that closed just now
        return Promise.all(this.finishing)
      })
      .then(() => false)
    const late = await Promise.race([finished, timedOut])
    clearTimeout(force)
    if (!late) return
    this.cutOff()
    await Promise.all(stopped)
    await this.socketsClosed()
    this.trackCleanup()
    if (this.finishing.size > 0) this.log.warn(`close timeout: not waiting for the listeners of ${this.finishing.size} closed sessions`)
  }

  /** closeTimeout ran out: a 421 to every session still open (then lingerTimeout), the rest closed at once. */
  private cutOff(): void {
    if (this.connections.size > 0) this.log.warn(`close timeout: cutting off ${this.connections.size} connections`)
    const open = [...this.connections]
    const graceful = new Set(open.filter((connection) => connection.session !== null))
    for (const { session, socket } of graceful) {
      this.log.warn(`cutting off ${socket.remoteAddress ?? 'unknown'}: close timeout`)
      session?.close()
    }
    for (const connection of open) if (!graceful.has(connection)) connection.socket.destroy()
  }

  /** Sessions closed earlier with listener work still running: their settled() goes in `finishing`. */
  private trackCleanup(): void {
    const closed = this.closedThisTurn
    if (closed.length === 0) return
    this.closedThisTurn = []
    for (const smtp of closed) {
      if (!smtp.hasPendingWork) continue
      const finished: Promise<void> = smtp.settled().then(() => void this.finishing.delete(finished))
      this.finishing.add(finished)
    }
  }

  private socketsClosed(): Promise<void> {
    if (this.connections.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.onSocketsClosed.push(resolve))
  }

  /** An 'error' event with no listener would throw; a server must not die of it. */
  private reportError(error: unknown): void {
    const failure = error instanceof Error ? error : new Error(String(error))
    if (this.listenerCount('error') > 0) this.emit('error', failure)
    else process.emitWarning(failure)
  }

  private accept(socket: net.Socket, listener: ListenOptions, options: ResolvedOptions, local: { readonly address: string; readonly port: number } | null): void {
    const connection = new Connection(socket)
    this.connections.add(connection)
    // One listener for the socket's end ('close' comes once): the slot, any linger timer, then the count of sockets.
    socket.on('close', () => this.socketClosed(connection))
    socket.on('error', ignore) // until the protocol owns the socket, a reset just closes it
    socket.setNoDelay(true)
    const facts: SessionFacts = {
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      localAddress: local ? local.address : (socket.localAddress ?? ''),
      localPort: local ? local.port : (socket.localPort ?? 0),
      connectedAt: new Date(),
      tls: null,
    }
    // Counted from accept: a client still owing its PROXY header or TLS handshake holds a slot too.
    const slot = this.limits.take(facts.remoteAddress ?? '')
    if (!(slot instanceof ConnectionSlot)) return this.refuse(socket, socket, !listener.secure, facts, slot, connection)
    connection.slot = slot
    // A PROXY header, an implicit-TLS handshake or a reverse lookup to wait for first; else the
    // session starts now (no async step per connection).
    if (listener.proxyProtocol || listener.secure || this.lookup) return void this.prepare(socket, listener, options, facts, slot, connection)
    try {
      this.begin(socket, socket, facts, options, slot, connection)
    } catch (error) {
      this.dropped(socket, facts, error)
    }
  }

  /** Accept's steps that wait: the PROXY header, the implicit-TLS handshake, the reverse lookup. */
  private async prepare(
    socket: net.Socket,
    listener: ListenOptions,
    options: ResolvedOptions,
    facts: SessionFacts,
    slot: ConnectionSlot,
    connection: Connection,
  ): Promise<void> {
    try {
      if (listener.proxyProtocol) {
        const { header, rest } = await readProxyHeader(socket, listener.proxyTimeout ?? 10_000)
        // LOCAL (a health check from the proxy itself) and UNKNOWN keep the socket's addresses.
        if (header.command === 'PROXY' && header.source && header.destination) {
          Object.assign(facts, { remoteAddress: header.source.address, remotePort: header.source.port })
          Object.assign(facts, { localAddress: header.destination.address, localPort: header.destination.port })
        }
        if (rest.length > 0) socket.unshift(rest)
        const refusal = slot.moveTo(facts.remoteAddress ?? '')
        if (refusal) {
          slot.release()
          return this.refuse(socket, socket, !listener.secure, facts, refusal, connection)
        }
      }
      let stream: Duplex = socket
      if (listener.secure && this.implicitTls) {
        const secure = await implicitHandshake(this.implicitTls, socket, facts)
        stream = secure.stream
        facts.tls = secure.tls
      }
      if (this.lookup && facts.remoteAddress) facts.clientHostname = await this.lookup(facts.remoteAddress)
      this.begin(stream, socket, facts, options, slot, connection)
    } catch (error) {
      this.dropped(socket, facts, error)
    }
  }

  /** A bad PROXY header or a failed TLS handshake: there is no session to tell, so just close. */
  private dropped(socket: net.Socket, facts: SessionFacts, error: unknown): void {
    this.log.warn(`connection from ${facts.remoteAddress} dropped: ${(error as Error).message}`)
    if (this.listenerCount('connectionError') > 0) this.emit('connectionError', error instanceof Error ? error : new Error(String(error)), facts)
    socket.destroy()
  }

  private sessionEnded(connection: Connection): void {
    if (!connection.session) return
    connection.session = null
    this.openSessions--
  }

  /** The socket closed: its slot is given back, its linger timer stopped, and a waiting close() woken. */
  private socketClosed(connection: Connection): void {
    connection.slot?.release()
    if (connection.lingering) clearTimeout(connection.lingering)
    connection.lingering = null
    this.connections.delete(connection)
    if (this.connections.size === 0) for (const wake of this.onSocketsClosed.splice(0)) wake()
  }

  /**
   * Refuses a client: a 421 in place of the greeting, then the connection ends (within
   * lingerTimeout). Before an implicit-TLS handshake no reply can be read, so it just closes.
   */
  private refuse(stream: Duplex, socket: net.Socket, canReply: boolean, facts: SessionFacts, reply: Reply, connection: Connection): void {
    this.log.warn(`refused ${facts.remoteAddress}: ${String(reply.text)}${canReply ? '' : ' (closed before the TLS handshake)'}`)
    if (!canReply) return void socket.destroy()
    // With its enhanced code: clients read it to decide when to retry.
    stream.end(formatReply(reply, true))
    // Whatever the client still sends is read and dropped, so its FIN is seen and the socket closes.
    if (stream === socket) socket.resume()
    this.linger(connection)
  }

  /** The server ended its side: a peer that never closes its own is cut off after lingerTimeout. */
  private linger(connection: Connection): void {
    const socket = connection.socket
    if (socket.destroyed || connection.lingering) return
    // Stopped by the socket's 'close' (socketClosed).
    connection.lingering = setTimeout(() => {
      this.log.info(`cutting off ${socket.remoteAddress ?? 'unknown'}: still open ${this.server.lingerTimeout} ms after the server ended it`)
      socket.destroy()
    }, this.server.lingerTimeout).unref()
  }

  /** The connection is ready for SMTP (sync or after prepare()): a 421 if the server is closing, else its session. */
  private begin(stream: Duplex, socket: net.Socket, facts: SessionFacts, options: ResolvedOptions, slot: ConnectionSlot, connection: Connection): void {
    if (this.closing) {
      slot.release()
      return this.refuse(stream, socket, true, facts, REPLIES.shuttingDown, connection)
    }
    this.startSession(stream, socket, facts, options, slot, connection)
  }

  private startSession(stream: Duplex, socket: net.Socket, facts: SessionFacts, options: ResolvedOptions, slot: ConnectionSlot, connection: Connection): void {
    const smtp = new SmtpProtocol(options)
    connection.session = smtp
    this.openSessions++
    smtp.on('close', () => {
      this.sessionEnded(connection)
      slot.release()
      // Most sessions leave nothing running: a settled() Promise per session only when one does.
      if (this.closedThisTurn.push(smtp) === 1) process.nextTick(this.checkClosed)
      this.linger(connection)
    })
    try {
      this.handler(smtp, stream)
    } catch (error) {
      this.reportError(error)
      this.sessionEnded(connection)
      slot.release()
      socket.destroy()
      return
    }
    smtp.attach(stream, facts, facts.tls ? undefined : this.starttlsUpgrade)
  }
}

/** One accepted socket's bookkeeping, until its 'close'. */
class Connection {
  /** The session on it while one is open. */
  session: SmtpProtocol | null = null
  /** The connection's place in the limits, once it has one. */
  slot: ConnectionSlot | null = null
  /** The lingerTimeout timer, once the server ended its side. */
  lingering: ReturnType<typeof setTimeout> | null = null

  constructor(readonly socket: net.Socket) {}
}

function ignore(): void {}

/** A listener on every address (IPv4 or IPv6), whose connections' local address varies. */
function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::' || address === '' || address.includes('%')
}
