// Fuzzes SmtpProtocol in memory: mutated random conversations against random options and listeners,
// watching for crashes, hangs, unbounded buffering and malformed or runaway replies.
// Run: npx tsc -p . && node dist/bench/fuzz.js [--seconds 60] [--seed N] [--cases N] [--max-buffered BYTES] [--dump]

import { writeSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Worker } from 'node:worker_threads'
import {
  SmtpError,
  SmtpProtocol,
  SmtpReply,
  type EnhancedCode,
  type Logger,
  type MessageVerdict,
  type ResolvedOptions,
  type SaslMechanismName,
  type SmtpOptions,
  type SmtpTransport,
  type TlsInfo,
  type Verdict,
} from '../lib/index.js'
import { randomConversation } from '../spec/helpers/conversation.js'
import { Random } from '../spec/helpers/random.js'

/** What went wrong in a case. */
export type FailureKind = 'crash' | 'hang' | 'growth' | 'output' | 'amplification' | 'lifecycle'

/** One finding of one case. */
export interface Failure {
  readonly kind: FailureKind
  readonly detail: string
}

/** What one case did and what it found. */
export interface CaseResult {
  readonly seed: number
  readonly failures: readonly Failure[]
  readonly inputBytes: number
  readonly outputBytes: number
  /** The largest `bufferedInput` sampled, and the bound it was held to at that moment. */
  readonly peakBuffered: number
  readonly peakBound: number
  /** The largest `bufferedInput / bound` sampled: how close the case came to the bound. */
  readonly closest: number
}

/** How a case runs. The defaults are the fuzz script's; the specs swap in broken protocols. */
export interface CaseSettings {
  /** A cap on `bufferedInput` on top of the bound derived from the options (`--max-buffered`). */
  readonly maxBuffered?: number
  /** Makes the protocol under test. Default: `new SmtpProtocol(options)`. */
  readonly createProtocol?: (options: SmtpOptions) => SmtpProtocol
}

/** How a case ends its session once the input is fed. */
type Ending = 'end' | 'destroy' | 'destroy-error' | 'destroy-reset'

/** What the application does to a session part-way: a graceful shutdown, an abrupt close, a lost connection. */
type Interruption = 'shutdown' | 'close' | 'destroy'

/** Everything random about a case except listener and transport behaviour, drawn from its seed. */
export interface CasePlan {
  readonly seed: number
  readonly options: SmtpOptions
  readonly input: Buffer
  readonly pieces: readonly Buffer[]
  /** Which optional listeners are registered. */
  readonly listeners: ReadonlySet<ListenerName>
  /** How often a decision listener refuses, and how often it answers with a Promise. */
  readonly failRate: number
  readonly asyncRate: number
  /** How often `transport.write` returns false (then `drained()` follows a turn later). */
  readonly writeFalseRate: number
  /** Whether the transport can upgrade (STARTTLS), and whether the handshake succeeds. */
  readonly tls: 'none' | 'ok' | 'fail'
  /** How often the client waits a turn between pieces. */
  readonly turnRate: number
  /** Sometimes feeds while paused, as a transport that ignores `pause()` would. */
  readonly impatient: boolean
  /** The piece before which the application interrupts the session (`interruption`), or -1. */
  readonly interruptAt: number
  readonly interruption: Interruption
  /** How often a decision listener first calls `shutdown()`, `close()` or `destroy()` on its session. */
  readonly reentryRate: number
  readonly ending: Ending
}

type ListenerName =
  | 'connect'
  | 'ehlo'
  | 'sender'
  | 'recipient'
  | 'recipient2'
  | 'data'
  | 'headers'
  | 'dataChunk'
  | 'message'
  | 'plainAuth'
  | 'auth'
  | 'queries'
  | 'notices'

// Event-loop turns a session gets to settle, close or resume. Every listener and transport delay
// here is at most a few turns, so a session that needs more is stuck, not slow.
const TURN_LIMIT = 10_000
// The longest command line any option mix allows beyond maxLineLength: the SIZE (26), DSN (500),
// AUTH= (500) and BODY/SMTPUTF8 (32) allowances (lib/capabilities.ts), and the AUTH line limit.
const LINE_ALLOWANCES = 26 + 500 + 500 + 32
const AUTH_LINE_LIMIT = 12288
// A Received header echoes a HELO name and a recipient (each at most one command line) plus ~200
// octets of its own.
const RECEIVED_ALLOWANCE = 1024
// Reply octets one input line may cost: the longest reply to a short line is EHLO's capability
// list, 330 octets with every extension on (XCLIENT and XFORWARD included).
const REPLY_OCTETS_PER_LINE = 400
const FACTS = { remoteAddress: '192.0.2.1', remotePort: 40000, localAddress: '192.0.2.25', localPort: 25 }
const TLS_INFO: TlsInfo = { protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256', servername: null, implicit: false }
const SILENT: Logger = { debug() {}, info() {}, warn() {}, error() {} }

// Errors the fuzzer throws on purpose; any other error on the `error` event is a finding.
const planned = new WeakSet<Error>()

function plannedError(message: string): Error {
  const error = new Error(`fuzz: ${message}`)
  planned.add(error)
  return error
}

const nextTurn = (): Promise<void> => new Promise((done) => setImmediate(done))

// ---------------------------------------------------------------------------------------------
// Seeds

/** Mixes a 32-bit value (murmur3's finaliser), so nearby seeds give unrelated streams. */
function mix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b)
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35)
  return (x ^ (x >>> 16)) >>> 0
}

/** An independent random stream `k` of a case, so input, options and behaviour do not shift each other. */
function stream(seed: number, k: number): Random {
  return new Random(mix((seed ^ Math.imul(k + 1, 0x9e3779b9)) >>> 0))
}

/** The seed of case `index` of a run. Case 0 has the run's own seed, so `--seed S --cases 1` replays case S. */
export function caseSeed(runSeed: number, index: number): number {
  return (runSeed + Math.imul(index, 0x9e3779b9)) >>> 0
}

// ---------------------------------------------------------------------------------------------
// Input

const b64 = (text: string): string => Buffer.from(text, 'latin1').toString('base64')

// Lines that reach paths a random conversation rarely does: AUTH in every mechanism and failure,
// STARTTLS, parameters, XCLIENT/XFORWARD, and lines just around the length limits.
const COMMANDS: ReadonlyArray<(random: Random) => string> = [
  () => `AUTH PLAIN ${b64('\0user\0secret')}`,
  () => `AUTH PLAIN\r\n${b64('authz\0user\0wrong')}`,
  () => `AUTH LOGIN\r\n${b64('user')}\r\n${b64('secret')}`,
  () => `AUTH LOGIN ${b64('user')}\r\n${b64('secret')}`,
  () => `AUTH CRAM-MD5\r\n${b64('user 0123456789abcdef0123456789abcdef')}`,
  () => `AUTH XOAUTH2 ${b64('user=user\x01auth=Bearer token\x01\x01')}\r\n`,
  () => 'AUTH PLAIN\r\n*',
  () => 'AUTH LOGIN\r\n=\r\n*',
  () => 'AUTH PLAIN ###',
  () => 'AUTH PLAIN =',
  () => 'AUTH NOPE',
  (r) => `AUTH PLAIN ${'A'.repeat(AUTH_LINE_LIMIT - 14 + r.int(8))}`,
  (r) => `AUTH LOGIN\r\n${'A'.repeat(AUTH_LINE_LIMIT - 4 + r.int(8))}`,
  () => 'STARTTLS',
  () => 'LHLO client.test',
  (r) => `EHLO ${'h'.repeat(1 + r.int(600))}`,
  () => 'MAIL FROM:<sender@client.test> SIZE=100000000 BODY=8BITMIME',
  () => 'MAIL FROM:<sender@client.test> BODY=BINARYMIME',
  () => 'MAIL FROM:<ü@client.test> SMTPUTF8',
  () => 'MAIL FROM:<> RET=HDRS ENVID=a+2Bb AUTH=<>',
  () => 'MAIL FROM: <@route.test:a@client.test>',
  () => 'RCPT TO:<a@mx.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+40mx.test',
  () => 'RCPT TO:<Postmaster>',
  () => 'RCPT TO:<"a b"@[192.0.2.1]>',
  () => 'RCPT TO:<x@[IPv6:2001:db8::1]>',
  (r) => 'RCPT TO:<a@mx.test>\r\n'.repeat(1 + r.int(120)).slice(0, -2),
  () => 'XCLIENT ADDR=198.51.100.7 NAME=proxy.test HELO=h.test LOGIN=u',
  () => 'XCLIENT ADDR=not-an-ip',
  () => 'XFORWARD HELO=h.test ADDR=198.51.100.8 NAME=[UNAVAILABLE]',
  () => 'DATA',
  () => '.',
  () => 'QUIT',
  () => 'RSET',
  () => 'HELP me',
  () => 'VRFY postmaster',
  () => 'EXPN staff',
  (r) => `NOOP ${'y'.repeat(r.pick([64, 512, 538, 1000, 1070, 1570, AUTH_LINE_LIMIT]) - 10 + r.int(6))}`,
]

const SPECIAL_BYTES = [0x0d, 0x0a, 0x2e, 0x00, 0xff, 0x20, 0x3a, 0x3c, 0x3e, 0x40, 0x80, 0xc3]
const SPECIAL_RUNS = ['\r\n', '\r\n.\r\n', '\n.\n', '.\r\n', '\r', '\n', '\r\r\n', '..', '\r\n\r\n', '\0', '\xff\xfe']

function insertAt(input: Buffer, at: number, bytes: Buffer): Buffer {
  return Buffer.concat([input.subarray(0, at), bytes, input.subarray(at)])
}

/** A random offset; half the time the start of a line, where inserted commands are read as commands. */
function offset(random: Random, input: Buffer): number {
  const at = random.int(input.length + 1)
  if (random.int(2) === 0 || at === 0) return at
  return input.lastIndexOf(0x0a, at - 1) + 1
}

function randomBytes(random: Random, length: number, avoidLf = false): Buffer {
  const bytes = Buffer.alloc(length)
  for (let i = 0; i < length; i++) {
    let byte = random.int(256)
    if (avoidLf && byte === 0x0a) byte = 0x0b
    bytes[i] = byte
  }
  return bytes
}

/** One way to damage input. */
type Mutation = (random: Random, input: Buffer) => Buffer

const MUTATIONS: readonly Mutation[] = [
  function flipBits(random, input) {
    const out = Buffer.from(input)
    for (let n = 1 + random.int(8); n > 0 && out.length > 0; n--) {
      const at = random.int(out.length)
      out[at] = (out[at] ?? 0) ^ (1 << random.int(8))
    }
    return out
  },
  function insertBytes(random, input) {
    const parts: Buffer[] = []
    for (let n = 1 + random.int(6); n > 0; n--) {
      const kind = random.int(3)
      if (kind === 0) parts.push(Buffer.from([random.pick(SPECIAL_BYTES)]))
      else if (kind === 1) parts.push(Buffer.from(random.pick(SPECIAL_RUNS), 'latin1'))
      else parts.push(randomBytes(random, 1 + random.int(8)))
    }
    return insertAt(input, offset(random, input), Buffer.concat(parts))
  },
  function deleteRange(random, input) {
    const from = random.int(input.length + 1)
    const to = Math.min(input.length, from + 1 + random.int(64))
    return Buffer.concat([input.subarray(0, from), input.subarray(to)])
  },
  function duplicateRange(random, input) {
    const from = random.int(input.length + 1)
    const range = input.subarray(from, from + 1 + random.int(256))
    let copies = Buffer.alloc(0)
    for (let n = 1 + random.int(random.pick([2, 50])); n > 0; n--) copies = Buffer.concat([copies, range])
    return insertAt(input, offset(random, input), copies)
  },
  function spliceOther(random, input) {
    const other = randomConversation(random, true)
    const from = random.int(other.length)
    return insertAt(input, offset(random, input), other.subarray(from, from + 1 + random.int(other.length - from)))
  },
  function longRun(random, input) {
    // A run with no line end, up to a few hundred KB: past every line and message limit.
    const length = random.int(random.pick([1000, 20_000, 300_000]))
    const fill = random.int(5)
    const byte = random.pick(['x', '.', '\r', '\0'])
    const run = fill === 4 ? randomBytes(random, length, true) : Buffer.alloc(length, byte)
    return insertAt(input, offset(random, input), run)
  },
  function bdatLine(random, input) {
    const n = random.pick([0, 1, 2, 3, random.int(100), random.int(70_000), 2 ** 31, 2 ** 32 + 1, 999_999_999_999_999])
    const line = random.pick([
      `BDAT ${n}`,
      `BDAT ${n} LAST`,
      `BDAT ${n}  last`,
      `BDAT ${n} MORE`,
      `BDAT ${'9'.repeat(16)}`,
      'BDAT',
      'BDAT -1',
      'BDAT 0x10',
      'BDAT 1e3',
    ])
    const after = randomBytes(random, random.int(random.pick([4, 200])))
    return insertAt(input, offset(random, input), Buffer.concat([Buffer.from(`${line}\r\n`), after]))
  },
  function truncate(random, input) {
    return input.subarray(0, random.int(input.length + 1))
  },
  function command(random, input) {
    let lines = ''
    for (let n = 1 + random.int(3); n > 0; n--) lines += `${random.pick(COMMANDS)(random)}\r\n`
    // Often right after the greeting line, where AUTH, STARTTLS and XCLIENT are still allowed.
    const at = random.int(3) === 0 ? input.indexOf(0x0a) + 1 : offset(random, input)
    return insertAt(input, at, Buffer.from(lines, 'utf8'))
  },
  function bigMessage(random, input) {
    // A whole transaction with a body up to a few hundred KB of well-formed lines, or one BDAT chunk.
    const size = random.int(random.pick([2000, 50_000, 300_000]))
    const line = `${'a'.repeat(random.pick([0, 10, 76, 998, 1200]))}\r\n`
    const body = Buffer.from(line.repeat(Math.ceil(size / line.length)))
    const head = 'MAIL FROM:<a@client.test>\r\nRCPT TO:<b@mx.test>\r\n'
    const message =
      random.int(2) === 0
        ? Buffer.concat([Buffer.from(`${head}DATA\r\n`), body, Buffer.from('.\r\n')])
        : Buffer.concat([Buffer.from(`${head}BDAT ${body.length} LAST\r\n`), body])
    return insertAt(input, offset(random, input), message)
  },
]

/** A random conversation, damaged by a few mutations. */
function buildInput(random: Random, lmtp: boolean): Buffer {
  let input = randomConversation(random, random.int(3) > 0)
  // An LMTP server answers HELO/EHLO with 500; most LMTP cases should get past the greeting.
  if (lmtp && random.int(5) > 0) {
    input = Buffer.from(input.toString('latin1').replace(/^(EHLO|HELO) /gm, 'LHLO '), 'latin1')
  }
  for (let n = random.pick([0, 1, 2, 3, 5]); n > 0; n--) input = random.pick(MUTATIONS)(random, input)
  return input
}

// ---------------------------------------------------------------------------------------------
// Plan

function coin(random: Random, p = 0.5): boolean {
  return random.next() < p
}

function planOptions(random: Random): SmtpOptions {
  const chunking = coin(random, 0.8)
  const mechanisms: readonly SaslMechanismName[] = ['PLAIN', 'LOGIN', 'CRAM-MD5', 'XOAUTH2']
  return {
    domain: 'mx.test',
    chunkSize: random.pick([1, 2, 3, 8, 64, 1000, 4096, 65_536]),
    maxMessageSize: random.pick([0, 1, 10, 100, 1000, 10_000, 100_000, 1_000_000]),
    maxRecipients: random.pick([1, 2, 5, 100]),
    maxLineLength: random.pick([64, 65, 100, 512, 1000, 4096]),
    maxTextLineLength: random.pick([0, 1, 2, 3, 10, 78, 1000]),
    lineEndings: random.pick(['reject', 'normalize', 'keep'] as const),
    collectBody: random.pick([true, false, 'auto'] as const),
    maxHeaderSize: random.pick([0, 1, 16, 65_536]),
    maxErrors: random.pick([0, 0, 1, 3, 10, 50]),
    addReceivedHeader: coin(random, 0.25),
    size: coin(random, 0.8),
    pipelining: coin(random, 0.8),
    eightBitMime: coin(random, 0.8),
    smtpUtf8: coin(random, 0.8),
    enhancedStatusCodes: coin(random, 0.8),
    chunking,
    binaryMime: chunking && coin(random, 0.7),
    dsn: coin(random),
    lmtp: coin(random, 0.2),
    tlsPolicy: random.pick(['optional', 'optional', 'required', 'forbidden'] as const),
    authPolicy: random.pick(['optional', 'optional', 'required', 'forbidden'] as const),
    allowInsecureAuth: coin(random, 0.7),
    ...(coin(random, 0.3) ? { authMechanisms: mechanisms.filter(() => coin(random)) } : {}),
    maxAuthFailures: random.pick([0, 1, 3]),
    trustedProxies: coin(random, 0.25) ? ['192.0.2.0/24'] : [],
    logger: SILENT,
    trace: coin(random, 0.15),
  }
}

const OPTIONAL_LISTENERS: readonly ListenerName[] = [
  'connect',
  'ehlo',
  'sender',
  'recipient',
  'recipient2',
  'data',
  'headers',
  'dataChunk',
  'message',
  'plainAuth',
  'auth',
  'queries',
  'notices',
]

/** Draws everything about case `seed` but listener and transport behaviour. */
export function planCase(seed: number): CasePlan {
  const random = stream(seed, 0)
  const options = planOptions(random)
  const input = buildInput(stream(seed, 1), options.lmtp === true)
  const pieces = random.split(input, random.pick([1, 2, 8, 32, 128]))
  const likely: Partial<Record<ListenerName, number>> = {
    recipient2: 0.2,
    headers: 0.4,
    dataChunk: 0.5,
    auth: 0.3,
    connect: 0.5,
  }
  const listeners = new Set(OPTIONAL_LISTENERS.filter((name) => coin(random, likely[name] ?? 0.85)))
  return {
    seed,
    options,
    input,
    pieces,
    listeners,
    failRate: random.pick([0, 0.05, 0.2, 0.5]),
    asyncRate: random.pick([0, 0.3, 0.8]),
    writeFalseRate: random.pick([0, 0, 0.2, 0.7]),
    tls: random.pick(['none', 'none', 'ok', 'fail'] as const),
    turnRate: random.pick([0, 0.3, 1]),
    impatient: coin(random, 0.15),
    interruptAt: coin(random, 0.08) ? random.int(pieces.length) : -1,
    interruption: random.pick(['shutdown', 'shutdown', 'close', 'destroy'] as const),
    reentryRate: coin(random, 0.1) ? random.pick([0.02, 0.1]) : 0,
    ending: coin(random, 0.7) ? 'end' : random.pick(['destroy', 'destroy-error', 'destroy-reset'] as const),
  }
}

// ---------------------------------------------------------------------------------------------
// Listener behaviour

type Planned<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: Error }

const TEXTS: ReadonlyArray<string | readonly string[]> = [
  'fuzz',
  'two\r\nlines',
  'bare\nLF',
  'bare\rCR',
  '',
  'x'.repeat(100),
  'ü',
  '\r\n354 injected',
  ['first', 'second'],
]

/** Answers listeners the way applications do: at once, with a Promise, later, or by failing. */
class Actor {
  constructor(
    private readonly random: Random,
    private readonly failRate: number,
    private readonly asyncRate: number,
  ) {}

  coin(p = 0.5): boolean {
    return coin(this.random, p)
  }

  /** A decision: accept (true, nothing, a 2xx SmtpReply) or refuse in one of the six ways. */
  decide(failRate = this.failRate): Verdict | Promise<Verdict> {
    return this.deliver(this.outcome(failRate))
  }

  /** A notice listener: mostly nothing, sometimes a throw or a rejection. */
  notice(): void | Promise<void> {
    if (!this.coin(this.failRate / 2)) return this.coin(this.asyncRate) ? nextTurn() : undefined
    return this.deliver<void>({ ok: false, error: plannedError('notice listener failed') })
  }

  /** What a listener does to its own session, when it does something. */
  pickInterruption(): Interruption {
    return this.random.pick(['shutdown', 'close', 'destroy'] as const)
  }

  /** An LMTP `message` answer: one verdict per recipient (sometimes too few or too many). */
  perRecipient(count: number): Verdict[] {
    const n = Math.max(0, count + this.random.pick([0, 0, 0, -1, 1]))
    return Array.from({ length: n }, () => {
      const outcome = this.outcome(this.failRate)
      return outcome.ok ? outcome.value : false
    })
  }

  deliver<T>(outcome: Planned<T>): T | Promise<T> {
    const mode = this.coin(this.asyncRate) ? 1 + this.random.int(2) : 0
    if (mode === 0) {
      if (outcome.ok) return outcome.value
      throw outcome.error
    }
    if (mode === 1) return outcome.ok ? Promise.resolve(outcome.value) : Promise.reject(outcome.error)
    return new Promise<T>((done, failed) => {
      setImmediate(() => (outcome.ok ? done(outcome.value) : failed(outcome.error)))
    })
  }

  private outcome(failRate: number): Planned<Verdict> {
    const random = this.random
    if (!this.coin(failRate)) {
      const kind = random.int(4)
      return { ok: true, value: kind === 3 ? this.reply(random.pick([250, 251])) : kind === 2 ? undefined : true }
    }
    switch (random.int(6)) {
      case 0:
        return { ok: true, value: false }
      case 1:
        return { ok: true, value: this.reply(random.pick([450, 550, 554])) }
      case 2:
      case 3: {
        // A 421 closes the session: rare, or most sessions would end at their first refusal.
        const code = random.int(8) === 0 ? 421 : random.pick([450, 451, 452, 454, 500, 501, 550, 552, 553, 554])
        return { ok: false, error: new SmtpError(code, random.pick(TEXTS), this.enhanced(code)) }
      }
      default:
        return { ok: false, error: plannedError('decision listener failed') }
    }
  }

  private reply(code: number): SmtpReply {
    return new SmtpReply(code, this.random.pick(TEXTS), this.enhanced(code))
  }

  private enhanced(code: number): EnhancedCode | undefined {
    const level = Math.floor(code / 100) as 2 | 4 | 5
    return this.coin(0.3) ? undefined : `${level}.7.${this.random.int(30)}`
  }
}

// ---------------------------------------------------------------------------------------------
// Detectors

/**
 * The most client input a correct session may hold at one moment (`bufferedInput`), in octets:
 *
 *   3·held + max(maxLineLength + 1058, 12288) + chunkSize + body + received
 *
 * - `held`: octets fed since the protocol last wanted input (one piece when the client honours
 *   flow control). They may sit unread (1×) and, decoded in one go into a `dataChunk` batch, be
 *   doubled by `lineEndings: 'normalize'` (2×: each bare CR or LF becomes CRLF).
 * - a partial command line: the largest line limit any option mix gives (the extension allowances
 *   add 1058), or the AUTH/SASL line limit of 12288 (RFC 4954 §4).
 * - an undelivered `dataChunk` batch: it fires once it reaches `chunkSize`.
 * - the collected body: `maxMessageSize` (past it the body is only read, not kept); with no limit,
 *   everything the client sent, doubled by `normalize`.
 * - with `addReceivedHeader`, the header itself, which is added to the body uncounted.
 */
export function growthBound(options: ResolvedOptions, held: number, inputBytes: number): number {
  const line = Math.max(options.maxLineLength + LINE_ALLOWANCES, AUTH_LINE_LIMIT)
  const body = options.maxMessageSize > 0 ? options.maxMessageSize : 2 * inputBytes
  const received = options.addReceivedHeader ? RECEIVED_ALLOWANCE + 2 * line : 0
  return 3 * held + line + options.chunkSize + body + received
}

/** Why `output` is not a well-formed sequence of SMTP replies, or null when it is. */
export function checkReplies(output: Buffer): string | null {
  const text = output.toString('latin1')
  if (text === '') return null
  if (!text.endsWith('\r\n')) return `output ends inside a line: ${JSON.stringify(text.slice(-60))}`
  const lines = text.slice(0, -2).split('\r\n')
  let continuing: string | null = null
  for (const [i, line] of lines.entries()) {
    // RFC 5321 §4.2: Reply-code [ SP textstring ] CRLF, or Reply-code "-" textstring CRLF.
    const match = /^([2-5]\d\d)([ -]|$)/.exec(line)
    if (!match) return `line ${i} is not a reply: ${JSON.stringify(line.slice(0, 80))}`
    if (/[\r\n]/.test(line)) return `line ${i} holds a bare CR or LF: ${JSON.stringify(line.slice(0, 80))}`
    const code = match[1] ?? ''
    if (continuing !== null && code !== continuing) {
      return `line ${i} changes the code inside a multi-line reply: ${JSON.stringify(line.slice(0, 80))}`
    }
    continuing = match[2] === '-' ? code : null
  }
  return continuing === null ? null : 'the last reply ends with a continuation line'
}

/**
 * Why the server wrote too much for what it read, or null. Each input line may cost
 * REPLY_OCTETS_PER_LINE octets of replies, two more lines' worth cover the greeting and a closing
 * 421, and one octet per input octet covers replies that echo the client (the EHLO greeting).
 */
export function checkAmplification(inputBytes: number, inputLines: number, outputBytes: number): string | null {
  const allowed = REPLY_OCTETS_PER_LINE * (inputLines + 2) + inputBytes
  if (outputBytes <= allowed) return null
  return `${outputBytes} reply octets for ${inputBytes} input octets in ${inputLines} lines (allowed ${allowed})`
}

function explain(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  const stack = (error.stack ?? `${error.name}: ${error.message}`).split('\n').slice(0, 4).join(' | ')
  const cause = error.cause instanceof Error ? ` (cause: ${explain(error.cause)})` : ''
  return `${stack}${cause}`
}

/** Routes unhandled rejections and uncaught exceptions to `report` until the returned function is called. */
function captureProcessFaults(report: (what: string, error: unknown) => void): () => void {
  // Other handlers (mocha's) are set aside meanwhile, so a fault is this case's finding, not theirs.
  const rejections = process.listeners('unhandledRejection')
  const exceptions = process.listeners('uncaughtException')
  process.removeAllListeners('unhandledRejection')
  process.removeAllListeners('uncaughtException')
  const onRejection = (reason: unknown): void => report('unhandled rejection', reason)
  const onException = (error: Error): void => report('uncaught exception', error)
  process.on('unhandledRejection', onRejection)
  process.on('uncaughtException', onException)
  return () => {
    process.off('unhandledRejection', onRejection)
    process.off('uncaughtException', onException)
    for (const listener of rejections) process.on('unhandledRejection', listener)
    for (const listener of exceptions) process.on('uncaughtException', listener)
  }
}

// ---------------------------------------------------------------------------------------------
// One case

function countLines(input: Buffer): number {
  let lines = 1
  for (let at = input.indexOf(0x0a); at >= 0; at = input.indexOf(0x0a, at + 1)) lines++
  return lines
}

/** Runs case `seed`: builds its input, runs it through a fresh session, and reports what went wrong. */
export async function runCase(seed: number, settings: CaseSettings = {}): Promise<CaseResult> {
  const plan = planCase(seed)
  const failures: Failure[] = []
  const seen = new Set<string>()
  const fail = (kind: FailureKind, detail: string): void => {
    // One finding of each kind and detail is enough; a loop can repeat one thousands of times.
    const key = `${kind} ${detail}`
    if (seen.has(key) || failures.length >= 20) return
    seen.add(key)
    failures.push({ kind, detail })
  }
  const restore = captureProcessFaults((what, error) => fail('crash', `${what}: ${explain(error)}`))
  const run = new CaseRun(plan, settings, fail)
  try {
    await run.run()
  } catch (error) {
    fail('crash', `the case itself threw: ${explain(error)}`)
  } finally {
    // Late rejections of this case's Promises surface within a turn or two.
    await nextTurn()
    await nextTurn()
    restore()
  }
  return { seed, failures, inputBytes: plan.input.length, ...run.stats }
}

/** One session driven through one case: its listeners, its transport, the client, and the checks. */
class CaseRun {
  readonly stats = { outputBytes: 0, peakBuffered: 0, peakBound: 0, closest: 0 }
  private readonly act: Actor
  private readonly smtp: SmtpProtocol
  private readonly options: ResolvedOptions
  private readonly output: Buffer[] = []
  // Octets fed since the protocol last wanted input, and in all.
  private held = 0
  private fed = 0
  private paused = false
  /** The client may not feed: paused, or feed() said no. */
  private blocked = false
  private ended = false
  private endCalls = 0
  private closeEvents = 0
  /** destroy() was called on an open session, so it may close without `transport.end()`. */
  private destroyed = false
  /** The event whose listener ended the session from inside, if one did. */
  private reentered = ''

  constructor(
    private readonly plan: CasePlan,
    private readonly settings: CaseSettings,
    private readonly fail: (kind: FailureKind, detail: string) => void,
  ) {
    this.act = new Actor(stream(plan.seed, 2), plan.failRate, plan.asyncRate)
    this.smtp = (settings.createProtocol ?? ((options) => new SmtpProtocol(options)))(plan.options)
    this.options = this.smtp.options
  }

  async run(): Promise<void> {
    const { plan, smtp } = this
    this.listen()
    if (!this.call('open()', () => smtp.open(this.transport(), FACTS))) return
    if (!(await this.feedPieces())) return

    // Hang: once the input is consumed the session must be closed or idle (nothing pending, reading).
    const idle = (): boolean => smtp.closed || (!smtp.isWaiting && !this.blocked)
    if (!smtp.closed && !(await this.until(idle, 'after the input'))) {
      this.fail('hang', `neither closed nor idle ${TURN_LIMIT} turns after the input was fed: ${this.describe()}`)
    }
    if (plan.ending === 'end') {
      this.call('end()', () => smtp.end())
    } else {
      const error =
        plan.ending === 'destroy-error'
          ? plannedError('connection failed')
          : plan.ending === 'destroy-reset'
            ? Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })
            : undefined
      if (!smtp.closed) this.destroyed = true
      this.call('destroy()', () => smtp.destroy(error))
      if (!smtp.closed) this.fail('lifecycle', 'still open right after destroy()')
    }
    if (!(await this.until(() => smtp.closed, 'after the end'))) {
      const after = plan.ending === 'end' ? 'end()' : 'destroy()'
      this.fail('hang', `not closed ${TURN_LIMIT} turns after ${after}: ${this.describe()}`)
      this.destroyed = true
      this.call('destroy() of a hung session', () => smtp.destroy())
    }
    await this.verifyClosed()
  }

  /** Feeds the pieces, honouring flow control (except an impatient client, now and then). False after a crash. */
  private async feedPieces(): Promise<boolean> {
    const { plan, smtp, act } = this
    for (const [i, piece] of plan.pieces.entries()) {
      if (i === plan.interruptAt && !this.interrupt(plan.interruption, `before piece ${i}`)) return false
      if (this.blocked && !smtp.closed && !(plan.impatient && act.coin(0.3))) {
        if (!(await this.until(() => !this.blocked || smtp.closed, `waiting to feed piece ${i}`))) {
          const where = `before piece ${i} of ${plan.pieces.length}`
          this.fail('hang', `input stayed paused for ${TURN_LIMIT} turns ${where}: ${this.describe()}`)
          return true
        }
      }
      this.held += piece.length
      this.fed += piece.length
      let wants = false
      if (!this.call(`feed() of piece ${i}`, () => void (wants = smtp.feed(piece)))) return false
      this.sample(`after piece ${i}`)
      if (wants) this.held = 0
      this.blocked = !wants
      if (act.coin(plan.turnRate)) {
        await nextTurn()
        this.sample(`a turn after piece ${i}`)
      }
    }
    return true
  }

  /** After close: listener work settles, nothing is held, the lifecycle was whole, the replies well-formed. */
  private async verifyClosed(): Promise<void> {
    const { smtp, fail, plan } = this
    let settled = false
    smtp.settled().then(
      () => void (settled = true),
      (error: unknown) => fail('crash', `settled() rejected: ${explain(error)}`),
    )
    if (!(await this.until(() => settled, 'waiting for settled()'))) {
      fail('hang', `settled() unresolved ${TURN_LIMIT} turns after close`)
    }
    if (smtp.bufferedInput !== 0) fail('growth', `bufferedInput is ${smtp.bufferedInput} after close`)
    if (smtp.isWaiting && settled) fail('lifecycle', 'isWaiting after close and settled()')
    if (this.closeEvents !== 1) fail('lifecycle', `${this.closeEvents} close events`)
    if (this.endCalls > 1) fail('lifecycle', `transport.end() called ${this.endCalls} times`)
    if (this.endCalls === 0 && !this.destroyed) fail('lifecycle', 'closed without transport.end()')
    const replies = Buffer.concat(this.output)
    const malformed = checkReplies(replies)
    if (malformed) fail('output', malformed)
    const runaway = checkAmplification(plan.input.length, countLines(plan.input), replies.length)
    if (runaway) fail('amplification', runaway)
  }

  /** Growth: sampled after every feed and every turn waited, against the bound for what was fed. */
  private sample(where: string): void {
    const { stats } = this
    const buffered = this.smtp.bufferedInput
    if (!Number.isSafeInteger(buffered) || buffered < 0) {
      return this.fail('growth', `bufferedInput is ${buffered} ${where}`)
    }
    const bound = Math.min(growthBound(this.options, this.held, this.fed), this.settings.maxBuffered ?? Infinity)
    if (buffered > stats.peakBuffered) {
      stats.peakBuffered = buffered
      stats.peakBound = bound
    }
    if (bound > 0) stats.closest = Math.max(stats.closest, buffered / bound)
    if (buffered > bound) this.fail('growth', `bufferedInput ${buffered} > bound ${bound} ${where}`)
  }

  /** Waits up to TURN_LIMIT turns for `done`, sampling growth on the way. */
  private async until(done: () => boolean, where: string): Promise<boolean> {
    for (let turn = 0; turn < TURN_LIMIT; turn++) {
      if (done()) return true
      await nextTurn()
      this.sample(where)
    }
    return done()
  }

  private describe(): string {
    const { smtp } = this
    return `isWaiting=${smtp.isWaiting} paused=${this.paused} closed=${smtp.closed} bufferedInput=${smtp.bufferedInput}`
  }

  /** Runs a library call; an exception out of it is a crash. */
  private call(what: string, run: () => void): boolean {
    try {
      run()
      return true
    } catch (error) {
      this.fail('crash', `${what} threw: ${explain(error)}`)
      return false
    }
  }

  private interrupt(what: Interruption, where: string): boolean {
    const smtp = this.smtp
    if (what === 'destroy' && !smtp.closed) this.destroyed = true
    const done = this.call(`${what}() ${where}`, () => {
      if (what === 'shutdown') smtp.shutdown()
      else if (what === 'close') smtp.close()
      else smtp.destroy()
    })
    if (what === 'destroy' && !smtp.closed) this.fail('lifecycle', `still open right after destroy() ${where}`)
    return done
  }

  /** Lifecycle: after `close` no listener is asked or told anything (late `error` events are fine). */
  private heard(event: string): void {
    // The other listeners of the dispatch that closed the session still run: not a new event.
    if (this.closeEvents > 0 && event !== this.reentered) this.fail('lifecycle', `${event} event after close`)
  }

  private decide(event: string, failRate?: number): Verdict | Promise<Verdict> {
    this.heard(event)
    // Some applications end a session from inside a listener (a client they want gone).
    if (this.plan.reentryRate > 0 && this.act.coin(this.plan.reentryRate)) {
      this.interrupt(this.act.pickInterruption(), `inside a ${event} listener`)
      this.reentered = event
    }
    return this.act.decide(failRate)
  }

  private notice(event: string): void | Promise<void> {
    this.heard(event)
    return this.plan.listeners.has('notices') ? this.act.notice() : undefined
  }

  /** Every event: decisions answered by the Actor, notices that sometimes fail on purpose. */
  private listen(): void {
    const { smtp, plan, act, options, fail } = this
    const has = (name: ListenerName): boolean => plan.listeners.has(name)
    const line = Math.max(options.maxLineLength + LINE_ALLOWANCES, AUTH_LINE_LIMIT)
    const received = options.addReceivedHeader ? RECEIVED_ALLOWANCE + 2 * line : 0
    const bodyLimit = options.maxMessageSize > 0 ? options.maxMessageSize + received : Infinity
    smtp.on('error', ({ error, event }) => {
      const code = (error as { code?: unknown }).code
      if (code === 'SMTPWIRE_ERR_INTERNAL') fail('crash', `internal error (event ${event}): ${explain(error)}`)
      // The Actor answers AUTH listeners like any decision (sometimes with nothing): AUTH fails
      // closed and reports that on purpose (SMTPWIRE_ERR_LISTENER_RESULT), so it is not a crash.
      else if (code === 'SMTPWIRE_ERR_LISTENER_RESULT' && (event === 'auth' || event === 'plainAuth')) return
      else if (!planned.has(error)) fail('crash', `unexpected error event (event ${event}): ${explain(error)}`)
    })
    smtp.on('close', () => {
      this.heard('close')
      this.closeEvents++
      return has('notices') ? act.notice() : undefined
    })
    smtp.on('reset', () => this.notice('reset'))
    smtp.on('transaction', () => this.notice('transaction'))
    smtp.on('authFailure', () => this.notice('authFailure'))
    smtp.on('secure', () => this.notice('secure'))
    smtp.on('tlsError', () => this.notice('tlsError'))
    if (has('connect')) smtp.on('connect', () => this.decide('connect', plan.failRate / 5))
    if (has('ehlo')) smtp.on('ehlo', () => this.decide('ehlo', plan.failRate / 2))
    if (has('sender')) smtp.on('sender', () => this.decide('sender'))
    if (has('recipient')) smtp.on('recipient', () => this.decide('recipient'))
    if (has('recipient2')) smtp.on('recipient', () => this.decide('recipient'))
    if (has('data')) smtp.on('data', () => this.decide('data'))
    if (has('headers')) {
      smtp.on('headers', ({ headers }) => {
        if (headers.length > options.maxHeaderSize) {
          fail('growth', `headers event with ${headers.length} octets > maxHeaderSize ${options.maxHeaderSize}`)
        }
        return this.decide('headers')
      })
    }
    if (has('dataChunk')) {
      smtp.on('dataChunk', () => {
        if (!act.coin()) return this.decide('dataChunk', plan.failRate / 2)
        this.heard('dataChunk')
        // An application that awaits its own I/O before it answers.
        return nextTurn().then(() => act.decide(plan.failRate / 2))
      })
    }
    if (has('message')) {
      smtp.on('message', ({ transaction, body }): MessageVerdict | Promise<MessageVerdict> => {
        if (body && body.length > bodyLimit) fail('growth', `message body of ${body.length} octets > ${bodyLimit}`)
        if (!options.lmtp || !act.coin(0.3)) return this.decide('message')
        this.heard('message')
        return act.deliver<MessageVerdict>({ ok: true, value: act.perRecipient(transaction.to.length) })
      })
    }
    if (has('plainAuth')) smtp.on('plainAuth', () => this.decide('plainAuth'))
    if (has('auth')) {
      smtp.on('auth', ({ credentials }) => {
        if (credentials.mechanism === 'CRAM-MD5' && act.coin()) return credentials.verify('secret')
        return this.decide('auth')
      })
    }
    if (has('queries')) {
      smtp.on('vrfy', () => this.decide('vrfy'))
      smtp.on('expn', () => this.decide('expn'))
      smtp.on('help', () => this.decide('help'))
    }
  }

  /** Records replies, sometimes pushes back (then drained a turn later), and can upgrade. */
  private transport(): SmtpTransport {
    const { smtp, plan, act, fail } = this
    const transport: SmtpTransport = {
      write: (chunk) => {
        if (this.ended) fail('output', `write after end(): ${JSON.stringify(chunk.toString('latin1').slice(0, 60))}`)
        this.output.push(chunk)
        this.stats.outputBytes += chunk.length
        if (!act.coin(plan.writeFalseRate)) return true
        setImmediate(() => this.call('drained()', () => smtp.drained()))
        return false
      },
      end: () => {
        this.ended = true
        this.endCalls++
      },
      pause: () => {
        if (this.paused) fail('lifecycle', 'pause() called twice without resume()')
        this.paused = true
        this.blocked = true
      },
      resume: () => {
        if (!this.paused) fail('lifecycle', 'resume() called without pause()')
        this.paused = false
        this.blocked = false
        this.held = 0
      },
    }
    if (plan.tls !== 'none') {
      const succeeds = plan.tls === 'ok'
      transport.upgrade = () =>
        new Promise<TlsInfo>((done, failed) => {
          setImmediate(() => (succeeds ? done(TLS_INFO) : failed(plannedError('handshake failed'))))
        })
    }
    return transport
  }
}

// ---------------------------------------------------------------------------------------------
// The script

/**
 * Kills the process when the main thread is stuck in a synchronous loop (a hang no turn limit can
 * see), after printing the seed of the case it is stuck in. Returns the function that marks progress.
 */
function startWatchdog(stuckMs: number): (seed: number) => void {
  const shared = new Int32Array(new SharedArrayBuffer(8))
  const code = `
    const { workerData } = require('node:worker_threads')
    const { writeSync } = require('node:fs')
    const shared = workerData.shared
    let last = -1
    let since = Date.now()
    setInterval(() => {
      const beat = Atomics.load(shared, 0)
      if (beat !== last) { last = beat; since = Date.now(); return }
      if (Date.now() - since < workerData.stuckMs) return
      const seed = Atomics.load(shared, 1) >>> 0
      const replay = ' (replay: --seed ' + seed + ' --cases 1)'
      writeSync(2, 'FAIL hang seed=' + seed + replay + ': stuck in a synchronous loop\\n')
      process.kill(process.pid, 'SIGKILL')
    }, 1000)
  `
  new Worker(code, { eval: true, workerData: { shared, stuckMs } }).unref()
  return (seed) => {
    Atomics.store(shared, 1, seed | 0)
    Atomics.add(shared, 0, 1)
  }
}

function usage(): string {
  return [
    'usage: node dist/bench/fuzz.js [--seconds 60] [--seed N] [--cases N] [--max-buffered BYTES] [--dump]',
    '  --seconds       how long to run (default 60; unlimited when only --cases is given)',
    '  --seed          the run seed; case 0 has this seed, so --seed S --cases 1 replays case S',
    '  --cases         stop after this many cases',
    '  --max-buffered  fail any case whose bufferedInput exceeds this, whatever its options allow',
    '  --dump          print each case\'s options and input (for reducing a failure)',
  ].join('\n')
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string' },
      seed: { type: 'string' },
      cases: { type: 'string' },
      'max-buffered': { type: 'string' },
      dump: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  })
  if (values.help) return void console.log(usage())
  const number = (name: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined
    const value = Number(text)
    if (!Number.isFinite(value) || value < 0) {
      throw new Error(`--${name} must be a non-negative number, got ${text}\n${usage()}`)
    }
    return value
  }
  const runSeed = (number('seed', values.seed) ?? Math.floor(Math.random() * 2 ** 32)) >>> 0
  const cases = number('cases', values.cases)
  const seconds = number('seconds', values.seconds) ?? (cases === undefined ? 60 : Infinity)
  const maxBuffered = number('max-buffered', values['max-buffered'])
  console.log(`smtpwire fuzz: seed ${runSeed}, ${seconds} s${cases === undefined ? '' : `, ${cases} cases`}`)

  const beat = startWatchdog(30_000)
  const started = Date.now()
  const deadline = started + seconds * 1000
  const byKind = new Map<FailureKind, number[]>()
  let run = 0
  let inputBytes = 0
  let peak = { buffered: 0, bound: 0, seed: runSeed }
  let closest = { ratio: 0, seed: runSeed }
  let lastReport = started
  while ((cases === undefined || run < cases) && Date.now() < deadline) {
    const seed = caseSeed(runSeed, run)
    beat(seed)
    if (values.dump) {
      const plan = planCase(seed)
      const { logger: _logger, ...options } = plan.options
      console.log(`case ${seed}: options ${JSON.stringify(options)}`)
      const { input: _input, pieces: _pieces, options: _options, listeners: _listeners, ...knobs } = plan
      console.log(`  listeners ${[...plan.listeners].join(',')} ${JSON.stringify(knobs)}`)
      console.log(`  pieces ${plan.pieces.map((p) => p.length).join(',')}`)
      console.log(`  input ${JSON.stringify(plan.input.toString('latin1'))}`)
    }
    const result = await runCase(seed, maxBuffered === undefined ? {} : { maxBuffered })
    run++
    inputBytes += result.inputBytes
    if (result.peakBuffered > peak.buffered) peak = { buffered: result.peakBuffered, bound: result.peakBound, seed }
    if (result.closest > closest.ratio) closest = { ratio: result.closest, seed }
    for (const kind of new Set(result.failures.map((f) => f.kind))) {
      byKind.set(kind, [...(byKind.get(kind) ?? []), seed])
    }
    for (const failure of result.failures) {
      console.log(`FAIL ${failure.kind} seed=${seed} (replay: --seed ${seed} --cases 1): ${failure.detail}`)
    }
    if (Date.now() - lastReport >= 10_000) {
      lastReport = Date.now()
      console.error(`… ${run} cases, ${[...byKind.values()].reduce((n, seeds) => n + seeds.length, 0)} failing`)
    }
  }

  const elapsed = (Date.now() - started) / 1000
  const rate = Math.round(run / Math.max(elapsed, 0.001))
  console.log(`\n${run} cases in ${elapsed.toFixed(1)} s (${rate} cases/s), ${inputBytes} input octets`)
  console.log(`peak bufferedInput: ${peak.buffered} octets (bound there ${peak.bound}; case ${peak.seed})`)
  console.log(`closest to the bound: ${(100 * closest.ratio).toFixed(1)} % of it (case ${closest.seed})`)
  if (byKind.size === 0) console.log('failures: none')
  for (const [kind, seeds] of byKind) {
    const shown = seeds.slice(0, 50).join(' ')
    console.log(`${kind}: ${seeds.length} case(s): ${shown}${seeds.length > 50 ? ' …' : ''}`)
  }
  process.exit(byKind.size > 0 ? 1 : 0)
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    writeSync(2, `${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(2)
  })
}
