// The load generator's SMTP client: a small client over `net` that sends messages with PIPELINING
// (or BDAT), times each one from its first byte written to its final reply, and never throws for
// what a server does (refusals, 421, resets): those are results. One client for every server.

import { createHash } from 'node:crypto'
import net from 'node:net'
import { performance } from 'node:perf_hooks'

/** One server reply: its code and its lines (text after the code), in order. */
export interface Reply {
  readonly code: number
  readonly lines: readonly string[]
}

/** Sender and recipients of every message in a session. */
export interface Envelope {
  readonly from: string
  readonly to: readonly string[]
}

/** What `runSession` sends, and how. */
export interface SessionOptions {
  readonly host: string
  readonly port: number
  /** Message bodies, CRLF line endings, not dot-stuffed (the client does that for DATA). */
  readonly messages: readonly Buffer[]
  /** MAIL, RCPT… and DATA (or BDAT) in one write; otherwise one command per round trip. Default true. */
  readonly pipelining?: boolean
  /** Send the body with `BDAT n LAST` instead of DATA. Default false. */
  readonly bdat?: boolean
  /** Split each body into BDAT chunks of at most this many octets. Default: one chunk. */
  readonly bdatChunkSize?: number
  /** Default `<bench@client.test>` to `<bench@server.test>`. */
  readonly envelope?: Envelope
  /** EHLO name. Default `client.test`. */
  readonly ehloName?: string
  /** Put each body's sha256 (hex) in its result. Default false. */
  readonly hash?: boolean
  /** Milliseconds without any socket activity before the session is given up. Default 120 000. */
  readonly idleTimeoutMs?: number
  /** Held from before connecting until EHLO is answered (or the session fails): bounds handshakes in flight. */
  readonly gate?: Gate
  /** Awaited after EHLO, before the first message: lets a driver start every session's messages at once. */
  readonly ready?: () => Promise<void>
  /** Local address to connect from (e.g. 127.0.0.2, to look like another client). Default: the OS picks. */
  readonly localAddress?: string
}

/** A counting semaphore. */
export class Gate {
  private free: number
  private readonly waiting: Array<() => void> = []

  constructor(slots: number) {
    this.free = slots
  }

  /** Resolves once a slot is taken. */
  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--
      return Promise.resolve()
    }
    return new Promise((resolve) => this.waiting.push(resolve))
  }

  /** Gives a slot back (to the next in line, if any). */
  release(): void {
    const next = this.waiting.shift()
    if (next) next()
    else this.free++
  }
}

/** The outcome of one message. */
export interface MessageResult {
  /** True when the message got a 2xx final reply (the server took responsibility for it). */
  readonly ok: boolean
  /** The deciding reply's code: the final reply, a refusal (MAIL, all RCPTs, DATA), 421; 0: connection lost. */
  readonly code: number
  /** The deciding reply's first line, or the connection error. */
  readonly reply: string
  /** From the first byte of the transaction written to its deciding reply (0 when nothing was written). */
  readonly latencyMs: number
  /** sha256 of the body as given, with the `hash` option. */
  readonly sha256?: string
}

/** The outcome of a session: one result per message, in order, and what went wrong, if anything. */
export interface SessionResult {
  readonly results: MessageResult[]
  /** Why the session ended early (a 421, a reset, a refused greeting or EHLO), or null. */
  readonly error: string | null
  /** EHLO keywords the server advertised, upper case. */
  readonly extensions: ReadonlySet<string>
}

const CRLF = Buffer.from('\r\n')
const DOT = Buffer.from('.')
const TERMINATOR = Buffer.from('.\r\n')
const STUFF_MARK = Buffer.from('\r\n.')
// A reply line longer than this is not SMTP (RFC 5321 allows 512): the connection is dropped.
const MAX_REPLY_LINE = 64 * 1024

/**
 * Dot-stuffs a body for DATA (RFC 5321 §4.5.2): a `.` at the start of any line is doubled. Uses
 * `indexOf` on the Buffer; returns `body` itself (no copy) when no line starts with a dot.
 */
export function dotStuff(body: Buffer): Buffer {
  const pieces: Buffer[] = []
  let start = 0
  if (body[0] === 0x2e) {
    pieces.push(DOT)
  }
  // Each hit is a CRLF followed by a dot: keep up to and including the CRLF, then add a dot.
  for (let hit = body.indexOf(STUFF_MARK); hit !== -1; hit = body.indexOf(STUFF_MARK, hit + 2)) {
    pieces.push(body.subarray(start, hit + 2), DOT)
    start = hit + 2
  }
  if (pieces.length === 0) return body
  pieces.push(body.subarray(start))
  return Buffer.concat(pieces)
}

/** The octets that follow a 354: the stuffed body, a CRLF if it lacks a final one, and `.` CRLF. */
function dataPayload(body: Buffer): Buffer[] {
  const stuffed = dotStuff(body)
  const { length } = stuffed
  const endsWithCrlf = length >= 2 && stuffed[length - 2] === 0x0d && stuffed[length - 1] === 0x0a
  return endsWithCrlf || length === 0 ? [stuffed, TERMINATOR] : [stuffed, CRLF, TERMINATOR]
}

/** Splits replies out of the byte stream: multi-line replies are joined, by code. */
export class ReplyParser {
  private pending: Buffer | null = null
  private lines: string[] = []
  private code = 0

  /**
   * Takes bytes; returns the replies they complete.
   * @throws Error when a line is not a reply line (no 3-digit code) or is absurdly long.
   */
  push(chunk: Buffer): Reply[] {
    const bytes = this.pending ? Buffer.concat([this.pending, chunk]) : chunk
    this.pending = null
    const replies: Reply[] = []
    let start = 0
    for (let end = bytes.indexOf(0x0a); end !== -1; end = bytes.indexOf(0x0a, start)) {
      const stop = end > start && bytes[end - 1] === 0x0d ? end - 1 : end
      const line = bytes.toString('latin1', start, stop)
      start = end + 1
      const reply = this.line(line)
      if (reply) replies.push(reply)
    }
    if (start < bytes.length) {
      if (bytes.length - start > MAX_REPLY_LINE) throw new Error('reply line too long')
      this.pending = bytes.subarray(start)
    }
    return replies
  }

  private line(line: string): Reply | null {
    const code = Number(line.slice(0, 3))
    const separator = line.charAt(3)
    if (!/^[2-5]\d\d$/.test(line.slice(0, 3)) || (separator !== '' && separator !== ' ' && separator !== '-')) {
      throw new Error(`not an SMTP reply line: ${JSON.stringify(line.slice(0, 80))}`)
    }
    if (this.lines.length > 0 && code !== this.code) {
      throw new Error(`reply code changed inside a reply: ${JSON.stringify(line.slice(0, 80))}`)
    }
    this.code = code
    this.lines.push(line.slice(4))
    if (separator === '-') return null
    const reply = { code, lines: this.lines }
    this.lines = []
    return reply
  }
}

/** The connection is gone (reset, closed, timed out, or the server said something that is not SMTP). */
class ConnectionLost extends Error {}

/** The server ended the session with a reply (421, or a refused greeting/EHLO). */
class SessionEnded extends Error {
  constructor(readonly reply: Reply) {
    super(`${reply.code} ${reply.lines[0] ?? ''}`)
  }
}

/** A socket with a queue of parsed replies. */
class Connection {
  private readonly parser = new ReplyParser()
  private readonly queue: Reply[] = []
  private waiter: { resolve: (reply: Reply) => void; reject: (error: Error) => void } | null = null
  private failure: Error | null = null
  readonly closed: Promise<void>

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => this.take(chunk))
    socket.on('error', (error) => this.fail(error))
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.fail(new Error('connection closed by the server'))
        resolve()
      })
    })
  }

  /** Connects; rejects with ConnectionLost when the connection cannot be made. */
  static open(host: string, port: number, idleTimeoutMs: number, localAddress?: string): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(localAddress === undefined ? { host, port } : { host, port, localAddress })
      socket.setTimeout(idleTimeoutMs, () => socket.destroy(new Error(`no activity for ${idleTimeoutMs} ms`)))
      const onError = (error: Error): void => reject(new ConnectionLost(error.message))
      socket.once('error', onError)
      socket.once('connect', () => {
        socket.off('error', onError)
        resolve(new Connection(socket))
      })
    })
  }

  private take(chunk: Buffer): void {
    let replies: Reply[]
    try {
      replies = this.parser.push(chunk)
    } catch (error) {
      this.socket.destroy(error as Error)
      return
    }
    for (const reply of replies) {
      const waiter = this.waiter
      if (waiter) {
        this.waiter = null
        waiter.resolve(reply)
      } else {
        this.queue.push(reply)
      }
    }
  }

  private fail(error: Error): void {
    this.failure ??= error
    const waiter = this.waiter
    this.waiter = null
    waiter?.reject(new ConnectionLost(this.failure.message))
  }

  /** The next reply; rejects with ConnectionLost once the connection is gone and no reply is left. */
  next(): Promise<Reply> {
    const reply = this.queue.shift()
    if (reply) return Promise.resolve(reply)
    if (this.failure) return Promise.reject(new ConnectionLost(this.failure.message))
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }))
  }

  /** Writes the pieces in one go (corked, so small ones leave in one segment). */
  write(...pieces: Array<Buffer | string>): void {
    if (this.failure) return
    this.socket.cork()
    for (const piece of pieces) this.socket.write(piece)
    this.socket.uncork()
  }

  /** Half-closes our side; `closed` resolves when the server closed too. */
  end(): void {
    this.socket.end()
  }

  destroy(): void {
    this.socket.destroy()
  }
}

function firstLine(reply: Reply): string {
  return `${reply.code} ${reply.lines[0] ?? ''}`
}

type Settings = Required<Omit<SessionOptions, 'messages' | 'gate' | 'ready' | 'localAddress'>>

/** One message to send: its body, and for DATA what follows the 354 (prepared before the clock starts). */
interface Prepared {
  readonly body: Buffer
  readonly payload: readonly Buffer[]
}

/** One transaction's outcome: ok, the reply that decided it, and whether it is left open. */
interface Outcome {
  readonly ok: boolean
  readonly decider: Reply
  /** MAIL was accepted but the transaction did not end: RSET before the next one. */
  readonly open: boolean
}

/** `BDAT n` commands and their octets; the last one says LAST. */
function bdatChunks(body: Buffer, chunkSize: number): Array<[string, Buffer]> {
  const step = chunkSize > 0 ? chunkSize : Math.max(body.length, 1)
  const chunks: Array<[string, Buffer]> = []
  for (let at = 0; at < body.length || chunks.length === 0; at += step) {
    const piece = body.subarray(at, at + step)
    chunks.push([`BDAT ${piece.length}${at + step >= body.length ? ' LAST' : ''}\r\n`, piece])
  }
  return chunks
}

/**
 * Runs one transaction: RSET first if the last one was left open, MAIL, RCPT…, then DATA and the
 * body or the BDAT chunks, pipelined in one write or one command per round trip. A refused envelope
 * decides the outcome (with its own code); a 421 anywhere throws SessionEnded, a lost connection
 * ConnectionLost.
 */
async function transaction(
  connection: Connection,
  message: Prepared,
  settings: Settings,
  size: boolean,
  reset: boolean,
): Promise<Outcome> {
  const { envelope, pipelining, bdat } = settings
  const mail = `MAIL FROM:<${envelope.from}>${size ? ` SIZE=${message.body.length}` : ''}\r\n`
  const rcpts = envelope.to.map((to) => `RCPT TO:<${to}>\r\n`)
  const chunks = bdat ? bdatChunks(message.body, settings.bdatChunkSize) : []
  const next = async (): Promise<Reply> => {
    const reply = await connection.next()
    // RFC 5321 §3.8: a 421 ends the session, whatever command it answers.
    if (reply.code === 421) throw new SessionEnded(reply)
    return reply
  }
  // Pipelined, everything up to the body (all of it, for BDAT) leaves in one write (RFC 2920, RFC 3030 §4).
  if (pipelining) {
    const commands = `${reset ? 'RSET\r\n' : ''}${mail}${rcpts.join('')}${bdat ? '' : 'DATA\r\n'}`
    connection.write(commands, ...chunks.flat())
  }
  if (reset) {
    if (!pipelining) connection.write('RSET\r\n')
    await next()
  }
  if (!pipelining) connection.write(mail)
  const mailReply = await next()
  const opened = mailReply.code < 400
  let accepted = 0
  let refusal: Reply | null = null
  for (const rcpt of rcpts) {
    if (!pipelining && !opened) break
    if (!pipelining) connection.write(rcpt)
    const reply = await next()
    if (reply.code < 400) accepted++
    else refusal ??= reply
  }
  const envelopeRefusal = !opened ? mailReply : accepted === 0 ? (refusal ?? mailReply) : null
  // One command at a time, a refused envelope goes no further.
  if (!pipelining && envelopeRefusal) return { ok: false, decider: envelopeRefusal, open: opened }

  if (bdat) {
    let failed: Reply | null = null
    let last: Reply = mailReply
    for (const chunk of chunks) {
      if (!pipelining) connection.write(...chunk)
      last = await next()
      failed ??= last.code >= 300 ? last : null
    }
    const decider = envelopeRefusal ?? failed ?? last
    return { ok: decider.code < 300, decider, open: decider !== last || last.code >= 300 }
  }

  if (!pipelining) connection.write('DATA\r\n')
  const dataReply = await next()
  if (dataReply.code !== 354) return { ok: false, decider: envelopeRefusal ?? dataReply, open: opened }
  // After a 354 a message must follow, even for an envelope that was refused (no server should do that).
  connection.write(...message.payload)
  const final = await next()
  const decider = envelopeRefusal ?? final
  return { ok: decider.code < 300, decider, open: decider !== final }
}

/** The failure a session ended with: its reply (if the server gave one) and a description. */
function describeFailure(failure: unknown): { code: number; text: string } {
  if (failure instanceof SessionEnded) return { code: failure.reply.code, text: firstLine(failure.reply) }
  return { code: 0, text: failure instanceof Error ? failure.message : String(failure) }
}

/**
 * Connects, reads the greeting, sends EHLO, then each message (pipelined by default), then QUIT.
 * Never rejects for what the server does: refusals, 421, resets and timeouts become results with
 * `ok: false` (messages not attempted get the reason too), and `error` says why the session ended
 * early. DATA bodies are dot-stuffed here, before connecting; one without a final CRLF gets one.
 */
export async function runSession(options: SessionOptions): Promise<SessionResult> {
  const settings: Settings = {
    host: options.host,
    port: options.port,
    pipelining: options.pipelining ?? true,
    bdat: options.bdat ?? false,
    bdatChunkSize: options.bdatChunkSize ?? 0,
    envelope: options.envelope ?? { from: 'bench@client.test', to: ['bench@server.test'] },
    ehloName: options.ehloName ?? 'client.test',
    hash: options.hash ?? false,
    idleTimeoutMs: options.idleTimeoutMs ?? 120_000,
  }
  // Dot-stuffing is the client's work, not the server's: it is done before the clock starts.
  const prepared: Prepared[] = options.messages.map((body) => ({
    body,
    payload: settings.bdat ? [] : dataPayload(body),
  }))
  const results: MessageResult[] = []
  const record = (index: number, result: Omit<MessageResult, 'sha256'>): void => {
    const body = options.messages[index]
    const sha256 = settings.hash && body ? createHash('sha256').update(body).digest('hex') : undefined
    results.push(sha256 === undefined ? result : { ...result, sha256 })
  }
  const extensions = new Set<string>()
  let error: string | null = null
  let connection: Connection | null = null
  let quitted = false
  let gated = false
  try {
    if (options.gate) {
      await options.gate.acquire()
      gated = true
    }
    connection = await Connection.open(settings.host, settings.port, settings.idleTimeoutMs, options.localAddress)
    const greeting = await connection.next()
    if (greeting.code !== 220) throw new SessionEnded(greeting)
    connection.write(`EHLO ${settings.ehloName}\r\n`)
    const ehlo = await connection.next()
    if (ehlo.code !== 250) throw new SessionEnded(ehlo)
    for (const line of ehlo.lines.slice(1)) extensions.add(line.split(' ')[0]?.toUpperCase() ?? '')
    if (gated) {
      gated = false
      options.gate?.release()
    }
    await options.ready?.()
    let reset = false
    for (const [index, message] of prepared.entries()) {
      const started = performance.now()
      try {
        const outcome = await transaction(connection, message, settings, extensions.has('SIZE'), reset)
        const { ok, decider } = outcome
        record(index, { ok, code: decider.code, reply: firstLine(decider), latencyMs: performance.now() - started })
        reset = outcome.open
      } catch (failure) {
        // The message in flight fails with whatever ended the session; the rest get it below.
        const { code, text } = describeFailure(failure)
        record(index, { ok: false, code, reply: text, latencyMs: performance.now() - started })
        throw failure
      }
    }
    connection.write('QUIT\r\n')
    await connection.next().catch(() => undefined)
    quitted = true
  } catch (failure) {
    if (!(failure instanceof ConnectionLost || failure instanceof SessionEnded)) throw failure
    const { code, text } = describeFailure(failure)
    error = text
    for (let index = results.length; index < options.messages.length; index++) {
      record(index, { ok: false, code, reply: text, latencyMs: 0 })
    }
  } finally {
    if (gated) options.gate?.release()
    if (connection) {
      // After QUIT the server closes; after a 421 or a failure there is nothing left to say.
      if (quitted) connection.end()
      else connection.destroy()
      await connection.closed
    }
  }
  return { results, error, extensions }
}

/** What `runLoad` runs. */
export interface LoadOptions {
  readonly host: string
  readonly port: number
  /** Sessions in all. */
  readonly sessions: number
  /** Sessions open at once. Default: all of them. */
  readonly concurrency?: number
  readonly messagesPerSession: number
  /** The body of message `index` (0 … sessions × messagesPerSession − 1). */
  readonly makeMessage: (index: number) => Buffer
  readonly pipelining?: boolean
  readonly bdat?: boolean
  readonly envelope?: Envelope
  readonly idleTimeoutMs?: number
  /**
   * Connections being set up at once (connect, greeting, EHLO). Default 100: a burst larger than
   * the server's listen backlog (511 in Node) overflows it, and the kernel retries those SYNs a
   * second later.
   */
  readonly maxConnecting?: number
  /**
   * Open every session (up to EHLO) before any sends a message, so the messages run with all
   * sessions open at once, and the clock starts then. Needs `concurrency` = `sessions`. Default true
   * when it is.
   */
  readonly together?: boolean
}

/** Aggregate results of a load run. */
export interface LoadResult {
  readonly messages: number
  readonly accepted: number
  readonly failed: number
  /** Time to open the sessions before the messages started (0 unless `together`). */
  readonly openMs: number
  /** Time the messages took (with `together`, from the moment every session was open). */
  readonly durationMs: number
  /** Accepted messages per second of wall time. */
  readonly messagesPerSecond: number
  /** Latency percentiles of accepted messages, in ms (NaN when none). */
  readonly p50Ms: number
  readonly p99Ms: number
  /** Final reply codes and how often each came (0: connection failed). */
  readonly codes: ReadonlyMap<number, number>
  /** Why sessions ended early, and how often. */
  readonly errors: ReadonlyMap<string, number>
  /** Every message's result, indexed as `makeMessage` was. */
  readonly results: readonly MessageResult[]
}

/** The `p` quantile (0…1) of sorted values, nearest rank. NaN for none. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)))
  return sorted[rank - 1] ?? Number.NaN
}

/**
 * Runs `sessions` sessions of `messagesPerSession` messages each, `concurrency` at a time (a new
 * one starts as soon as one ends), and aggregates: messages/s, p50/p99 latency, failures.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const total = options.sessions * options.messagesPerSession
  const results: MessageResult[] = new Array<MessageResult>(total)
  const errors = new Map<string, number>()
  const concurrency = Math.max(1, Math.min(options.concurrency ?? options.sessions, options.sessions))
  const together = (options.together ?? true) && concurrency === options.sessions
  const gate = new Gate(options.maxConnecting ?? 100)
  const started = performance.now()
  let release = started
  // The barrier opens once every session is ready or has ended (one that failed to open never will be).
  let waiting = options.sessions
  let open = (): void => undefined
  const barrier = new Promise<void>((resolve) => (open = resolve))
  const arrive = (): void => {
    if (--waiting > 0) return
    release = performance.now()
    open()
  }

  let nextSession = 0
  const worker = async (): Promise<void> => {
    while (nextSession < options.sessions) {
      const session = nextSession++
      const first = session * options.messagesPerSession
      const messages = Array.from({ length: options.messagesPerSession }, (_, i) => options.makeMessage(first + i))
      let arrived = false
      const ready = (): Promise<void> => {
        arrived = true
        arrive()
        return barrier
      }
      const outcome = await runSession({
        host: options.host,
        port: options.port,
        messages,
        pipelining: options.pipelining ?? true,
        bdat: options.bdat ?? false,
        ...(options.envelope ? { envelope: options.envelope } : {}),
        ...(options.idleTimeoutMs ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
        gate,
        ...(together ? { ready } : {}),
      })
      if (together && !arrived) arrive()
      outcome.results.forEach((result, i) => (results[first + i] = result))
      if (outcome.error !== null) errors.set(outcome.error, (errors.get(outcome.error) ?? 0) + 1)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const durationMs = performance.now() - release

  const codes = new Map<number, number>()
  const latencies: number[] = []
  for (const result of results) {
    codes.set(result.code, (codes.get(result.code) ?? 0) + 1)
    if (result.ok) latencies.push(result.latencyMs)
  }
  const sorted = Float64Array.from(latencies).sort()
  return {
    messages: total,
    accepted: latencies.length,
    failed: total - latencies.length,
    openMs: release - started,
    durationMs,
    messagesPerSecond: latencies.length / (durationMs / 1000),
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    codes,
    errors,
    results,
  }
}
