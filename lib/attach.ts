// Wires any Duplex (socket, TLS socket, in-memory pair, bridge) to a protocol: data in, replies
// out, pause/resume both ways, and the end of the stream. Module-level named listeners find their
// protocol through a symbol, so attaching allocates no closures. Never imports net or tls.

import type { Duplex } from 'node:stream'
import type { SessionFacts, TlsInfo } from './session-info.js'
import type { SmtpTransport } from './transport.js'

/**
 * Starts TLS over a stream (for STARTTLS): resolves with the encrypted stream to use from now on
 * and its TLS state; rejects when the handshake fails.
 */
export type StreamUpgrade = (stream: Duplex) => Promise<{
  /** The TLS stream to read and write from now on (for Node, the `TLSSocket`). */
  stream: Duplex
  /** What was negotiated, for `session.tls`. */
  tls: TlsInfo
}>

/** What attach needs from a protocol. */
export interface Attachable {
  open(transport: SmtpTransport, facts?: SessionFacts): unknown
  feed(chunk: Buffer): boolean
  end(): void
  destroy(error?: Error): void
  drained(): void
}

const kProtocol = Symbol('smtpwire.protocol')
const kTransport = Symbol('smtpwire.transport')

// While the protocol wants no input (a listener is deciding, or the client does not read its
// replies), the stream is still read up to this many octets and held: a paused stream would
// never read the client's FIN, so a client that left would go unnoticed for as long as a
// listener takes. Past it the stream itself is paused (TCP backpressure).
const HOLD_LIMIT = 16 * 1024

// A batch of replies up to this many octets is joined for one write rather than corked into a writev.
const JOIN_AT_MOST = 1024

// Detaching sets the protocol to undefined rather than deleting it: a delete turns the socket into
// a dictionary-mode object, slow for Node's own property accesses to its end.
interface AttachedStream extends Duplex {
  [kProtocol]?: Attachable | undefined
  [kTransport]?: StreamTransport
}

/**
 * Writes to a stream unless it can no longer take writes (the peer reset it, or it ended), and
 * keeps the session's own bound on reply octets queued in the stream: `write` returns false at
 * `maxQueued`, whatever the stream's highWaterMark (Node's default for it changed from 16 KiB to
 * 64 KiB in Node 22), and the protocol is told when the stream has flushed below it again.
 */
class StreamTransport implements SmtpTransport {
  /** The callback of writes that leave the queue at the bound: made at the first such write, then kept. */
  private wakeUp: ((error?: Error | null) => void) | null = null
  /** Input read while the protocol wanted none, in order, fed once it resumes. */
  held: Buffer[] = []
  heldBytes = 0
  /** The client's end arrived behind held input: told to the protocol after it. */
  heldEnd = false
  /** True while the protocol wants no input. */
  holding = false
  private draining = false

  constructor(
    protected stream: Duplex,
    private readonly maxQueued: number,
  ) {
    ;(stream as AttachedStream)[kTransport] = this
  }

  hold(chunk: Buffer): void {
    this.held.push(chunk)
    this.heldBytes += chunk.length
    if (this.heldBytes >= HOLD_LIMIT) this.stream.pause()
  }

  write(chunk: Buffer): boolean {
    const stream = this.stream
    if (stream.destroyed || stream.writableEnded) return true // 'close' follows; nothing to wait for
    this.writeOne(stream, chunk)
    return stream.writableLength < this.maxQueued
  }

  writev(chunks: readonly Buffer[]): boolean {
    const stream = this.stream
    if (stream.destroyed || stream.writableEnded) return true
    // A small batch (MAIL, RCPT and DATA replies: about 100 octets) is joined and written once:
    // a copy that size costs less than the request objects a corked writev makes per chunk.
    let length = 0
    for (let i = 0; i < chunks.length; i++) length += (chunks[i] as Buffer).length
    if (length <= JOIN_AT_MOST) {
      this.writeOne(stream, Buffer.concat(chunks, length))
      return stream.writableLength < this.maxQueued
    }
    // Larger ones: corked writes leave in one writev call (one syscall on a socket), uncopied.
    stream.cork()
    for (const chunk of chunks) this.writeOne(stream, chunk)
    stream.uncork()
    return stream.writableLength < this.maxQueued
  }

  /**
   * The stream's own return value is ignored: the bound is ours. A write that may leave the queue
   * at the bound carries the wake-up, so the last such write's callback finds the queue below it.
   */
  private writeOne(stream: Duplex, chunk: Buffer): void {
    if (stream.writableLength + chunk.length >= this.maxQueued) stream.write(chunk, (this.wakeUp ??= (error) => this.onFlushed(error)))
    else stream.write(chunk)
  }

  private onFlushed(error?: Error | null): void {
    // A failed write is reported by the stream's 'error'/'close'; a later wake-up owns the rest.
    if (error || this.stream.writableLength >= this.maxQueued) return
    const attached: AttachedStream = this.stream
    attached[kProtocol]?.drained()
  }

  end(): void {
    if (!this.stream.destroyed && !this.stream.writableEnded) this.stream.end()
  }

  pause(): void {
    this.holding = true
  }

  resume(): void {
    this.holding = false
    // Fed on the next tick: resume() is called from inside the protocol, which must not be re-entered.
    if (this.held.length > 0 || this.heldEnd) {
      if (!this.draining) process.nextTick(drainHeld, this)
      this.draining = true
    } else if (this.stream.isPaused()) {
      this.stream.resume()
    }
  }

  /** Feeds held input until the protocol wants no more; then the client's end, if it came. */
  drain(): void {
    this.draining = false
    const protocol = (this.stream as AttachedStream)[kProtocol]
    while (!this.holding && this.held.length > 0) {
      const chunk = this.held.shift() as Buffer
      this.heldBytes -= chunk.length
      protocol?.feed(chunk)
    }
    if (this.holding) return
    if (this.heldEnd) {
      this.heldEnd = false
      protocol?.end()
    } else if (this.stream.isPaused()) {
      this.stream.resume()
    }
  }

  /** Forgets held input (plaintext read before a TLS handshake is never run as commands). */
  dropHeld(): void {
    this.held = []
    this.heldBytes = 0
    this.heldEnd = false
  }
}

function drainHeld(transport: StreamTransport): void {
  transport.drain()
}

/** A stream transport that can swap its stream for an encrypted one (STARTTLS). */
class UpgradableStreamTransport extends StreamTransport {
  constructor(
    stream: Duplex,
    maxQueued: number,
    private readonly upgradeStream: StreamUpgrade,
  ) {
    super(stream, maxQueued)
  }

  async upgrade(): Promise<TlsInfo> {
    // Detached at once: no plaintext byte read from here on reaches the protocol, and the TLS
    // layer takes over a paused stream.
    const protocol = unwire(this.stream)
    this.dropHeld()
    this.stream.pause()
    const { stream, tls } = await this.upgradeStream(this.stream)
    this.stream = stream
    ;(stream as AttachedStream)[kTransport] = this
    if (protocol) wire(protocol, stream)
    return tls
  }
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  return Buffer.from(String(chunk), 'latin1')
}

function streamOnData(this: AttachedStream, chunk: unknown): void {
  const transport = this[kTransport]
  if (transport && (transport.holding || transport.held.length > 0)) return transport.hold(toBuffer(chunk))
  this[kProtocol]?.feed(toBuffer(chunk))
}

function streamOnEnd(this: AttachedStream): void {
  const transport = this[kTransport]
  if (transport && transport.held.length > 0) {
    transport.heldEnd = true
    return
  }
  this[kProtocol]?.end()
}

function streamOnClose(this: AttachedStream): void {
  const protocol = this[kProtocol]
  this[kProtocol] = undefined
  protocol?.destroy()
}

function streamOnError(this: AttachedStream, error: Error): void {
  const protocol = this[kProtocol]
  this[kProtocol] = undefined
  protocol?.destroy(error)
}

function wire(protocol: Attachable, stream: Duplex): void {
  const attached = stream as AttachedStream
  attached[kProtocol] = protocol
  attached.on('data', streamOnData)
  attached.on('end', streamOnEnd)
  attached.on('close', streamOnClose)
  attached.on('error', streamOnError)
  // A stream paused on purpose (e.g. after its PROXY header was read) stays paused when a
  // 'data' listener is added; attaching means reading from now on.
  if (attached.isPaused()) attached.resume()
}

function unwire(stream: Duplex): Attachable | undefined {
  const attached = stream as AttachedStream
  const protocol = attached[kProtocol]
  attached[kProtocol] = undefined
  attached.off('data', streamOnData)
  attached.off('end', streamOnEnd)
  attached.off('close', streamOnClose)
  attached.off('error', streamOnError)
  return protocol
}

/**
 * Connects `stream` to `protocol` and opens the session (the greeting is written at once). Input
 * stops while `maxQueued` reply octets wait in the stream. With `upgrade`, STARTTLS is offered
 * and runs through it.
 */
export function attachStream(protocol: Attachable, stream: Duplex, maxQueued: number, facts?: SessionFacts, upgrade?: StreamUpgrade): void {
  wire(protocol, stream)
  try {
    const transport = upgrade ? new UpgradableStreamTransport(stream, maxQueued, upgrade) : new StreamTransport(stream, maxQueued)
    protocol.open(transport, facts)
  } catch (error) {
    // A refused open (a second attach) must not leave this stream feeding someone else's session.
    unwire(stream)
    throw error
  }
}
