// Wires any Duplex (socket, TLS socket, in-memory pair, bridge) to a protocol: data in, replies
// out, pause/resume both ways, and the end of the stream. Module-level named listeners find their
// protocol through a symbol, so attaching allocates no closures. Never imports net or tls.

import type { Duplex } from 'node:stream'
import type { SessionFacts, TlsInfo } from './session.js'
import type { SmtpTransport } from './transport.js'

/**
 * Starts TLS over a stream (for STARTTLS): resolves with the encrypted stream to use from now on
 * and its TLS state; rejects when the handshake fails.
 */
export type StreamUpgrade = (stream: Duplex) => Promise<{ stream: Duplex; tls: TlsInfo }>

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

interface AttachedStream extends Duplex {
  [kProtocol]?: Attachable
  [kTransport]?: StreamTransport
}

/** Writes to a stream unless it can no longer take writes (the peer reset it, or it ended). */
class StreamTransport implements SmtpTransport {
  /** Input read while the protocol wanted none, in order, fed once it resumes. */
  held: Buffer[] = []
  heldBytes = 0
  /** The client's end arrived behind held input: told to the protocol after it. */
  heldEnd = false
  /** True while the protocol wants no input. */
  holding = false
  private draining = false

  constructor(protected stream: Duplex) {
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
    return stream.write(chunk)
  }

  writev(chunks: readonly Buffer[]): boolean {
    const stream = this.stream
    if (stream.destroyed || stream.writableEnded) return true
    // Corked writes leave in one writev call (one syscall on a socket), with no copy to join them.
    stream.cork()
    let ok = true
    for (const chunk of chunks) ok = stream.write(chunk)
    stream.uncork()
    return ok
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
    private readonly startTls: StreamUpgrade,
  ) {
    super(stream)
  }

  async upgrade(): Promise<TlsInfo> {
    // Detached at once: no plaintext byte read from here on reaches the protocol, and the TLS
    // layer takes over a paused stream.
    const protocol = unwire(this.stream)
    this.dropHeld()
    this.stream.pause()
    const { stream, tls } = await this.startTls(this.stream)
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
  delete this[kProtocol]
  protocol?.destroy()
}

function streamOnError(this: AttachedStream, error: Error): void {
  const protocol = this[kProtocol]
  delete this[kProtocol]
  protocol?.destroy(error)
}

function streamOnDrain(this: AttachedStream): void {
  this[kProtocol]?.drained()
}

function wire(protocol: Attachable, stream: Duplex): void {
  const attached = stream as AttachedStream
  attached[kProtocol] = protocol
  attached.on('data', streamOnData)
  attached.on('end', streamOnEnd)
  attached.on('close', streamOnClose)
  attached.on('error', streamOnError)
  attached.on('drain', streamOnDrain)
  // A stream paused on purpose (e.g. after its PROXY header was read) stays paused when a
  // 'data' listener is added; attaching means reading from now on.
  if (attached.isPaused()) attached.resume()
}

function unwire(stream: Duplex): Attachable | undefined {
  const attached = stream as AttachedStream
  const protocol = attached[kProtocol]
  delete attached[kProtocol]
  attached.off('data', streamOnData)
  attached.off('end', streamOnEnd)
  attached.off('close', streamOnClose)
  attached.off('error', streamOnError)
  attached.off('drain', streamOnDrain)
  return protocol
}

/**
 * Connects `stream` to `protocol` and opens the session (the greeting is written at once). With
 * `startTls`, STARTTLS is offered and runs through it.
 */
export function attachStream(protocol: Attachable, stream: Duplex, facts?: SessionFacts, startTls?: StreamUpgrade): void {
  wire(protocol, stream)
  try {
    protocol.open(startTls ? new UpgradableStreamTransport(stream, startTls) : new StreamTransport(stream), facts)
  } catch (error) {
    // A refused open (a second attach) must not leave this stream feeding someone else's session.
    unwire(stream)
    throw error
  }
}
