// The per-message and per-connection cost of the protocol core alone, no sockets: many in-memory
// SmtpProtocol sessions (configured like bench/server-child.ts: collectBody false, a no-op
// dataChunk listener, message accepted) driven through EHLO/MAIL/RCPT/DATA/body/QUIT the way
// smtp-source does it, one command per read. Prints CPU µs per message and the octets allocated per
// message (from the heap in use before and after each GC, so an object that dies young counts).
// kept: 50 sessions reused, as `smtp-source -d`; connection: a new session per message.
// --via server (the default) makes sessions as SmtpServer does; --via protocol as `new SmtpProtocol`.
// Run: npm run build && node --expose-gc dist/bench/hot-path.js [--mode kept|connection] [--messages 200000]

import { parseArgs } from 'node:util'
import v8 from 'node:v8'
import { SmtpProtocol, type SmtpOptions, type SmtpTransport } from '../lib/index.js'
import { resolveOptions } from '../lib/options.js'
import { SmtpServer } from '../lib/server.js'

const OPTIONS: SmtpOptions = { domain: 'bench.test', collectBody: false, maxMessageSize: 1024 * 1024 * 1024 }

/** A 4 KiB message as smtp-source sends it, with its end marker. */
function message(size: number): Buffer {
  const line = 'La de da de da 1.\r\n'
  let text = 'From: <foo@example.com>\r\nTo: <bar@example.com>\r\nDate: now\r\nMessage-Id: <1@bench>\r\n\r\n'
  while (text.length < size) text += line
  return Buffer.from(`${text}.\r\n`)
}

const MAIL = Buffer.from('MAIL FROM:<foo@myhostname>\r\n')
const RCPT = Buffer.from('RCPT TO:<foo@myhostname>\r\n')
const DATA = Buffer.from('DATA\r\n')
const EHLO = Buffer.from('EHLO myhostname\r\n')
const RSET = Buffer.from('RSET\r\n')
const QUIT = Buffer.from('QUIT\r\n')

class NullTransport implements SmtpTransport {
  octets = 0
  ended = false
  write(chunk: Buffer): boolean {
    this.octets += chunk.length
    return true
  }
  end(): void {
    this.ended = true
  }
}

/** Makes one opened session with the benchmark's listeners. */
type Factory = () => SmtpProtocol

function protocolFactory(): Factory {
  return () => {
    const smtp = listen(new SmtpProtocol(OPTIONS))
    smtp.open(new NullTransport(), { remoteAddress: '127.0.0.1', remotePort: 40000, localAddress: '127.0.0.1', localPort: 25 })
    return smtp
  }
}

/**
 * Sessions made the way SmtpServer makes them (its options, its handler, attached to a stream),
 * without sockets: a stand-in stream that takes the writes, and bytes fed to the protocol directly.
 */
function serverFactory(): Factory {
  let made: SmtpProtocol | null = null
  const server = new SmtpServer(OPTIONS, (smtp) => void (made = smtp))
  const internals = server as unknown as {
    options: SmtpOptions
    startSession(stream: unknown, socket: unknown, facts: unknown, options: unknown, slot: unknown, connection: unknown): void
  }
  const slot = { release(): void {} }
  // What listen() hands each connection (before issue 15, the options were resolved again per session).
  const options = resolveOptions(internals.options)
  return () => {
    made = null
    const stream = new FakeStream()
    internals.startSession(stream, stream, { remoteAddress: '127.0.0.1', remotePort: 40000, localAddress: '127.0.0.1', localPort: 25 }, options, slot, { socket: stream, slot, lingering: null, session: null })
    return listen(made as unknown as SmtpProtocol)
  }
}

/** What attach() and SmtpServer touch on a socket, doing nothing. */
class FakeStream {
  destroyed = false
  writableEnded = false
  writableLength = 0
  on(): this {
    return this
  }
  once(): this {
    return this
  }
  off(): this {
    return this
  }
  isPaused(): boolean {
    return false
  }
  resume(): this {
    return this
  }
  pause(): this {
    return this
  }
  write(): boolean {
    return true
  }
  cork(): void {}
  uncork(): void {}
  end(): this {
    this.writableEnded = true
    this.destroyed = true
    return this
  }
}

function listen(smtp: SmtpProtocol): SmtpProtocol {
  smtp.on('dataChunk', () => undefined)
  smtp.on('message', () => true)
  return smtp
}

/** Runs `messages` transactions; kept: 50 sessions reused (smtp-source -d), else one session per message. */
async function run(mode: 'kept' | 'connection', messages: number, body: Buffer, make: Factory): Promise<void> {
  const transaction = (smtp: SmtpProtocol): void => {
    smtp.feed(MAIL)
    smtp.feed(RCPT)
    smtp.feed(DATA)
    smtp.feed(body)
  }
  if (mode === 'connection') {
    for (let i = 0; i < messages; i++) {
      const smtp = make()
      smtp.feed(EHLO)
      transaction(smtp)
      smtp.feed(QUIT)
      smtp.end()
      if (!smtp.closed) throw new Error('session did not close')
      // A server runs its microtasks between socket events: closed sessions' cleanup must too.
      if (i % 50 === 49) await new Promise((resolve) => setImmediate(resolve))
    }
    return
  }
  const sessions: SmtpProtocol[] = []
  for (let i = 0; i < 50; i++) {
    const smtp = make()
    smtp.feed(EHLO)
    sessions.push(smtp)
  }
  for (let i = 0; i < messages; i++) {
    const smtp = sessions[i % sessions.length] as SmtpProtocol
    transaction(smtp)
    // smtp-source -d sends RSET between messages on a kept connection.
    smtp.feed(RSET)
  }
  for (const smtp of sessions) {
    smtp.feed(QUIT)
    smtp.end()
    if (!smtp.closed || smtp.session.counters.messages === 0) throw new Error('session did not deliver and close')
  }
}

/** CPU µs per message, and octets allocated per message (from the heap before and after each GC). */
async function measure(mode: 'kept' | 'connection', messages: number, body: Buffer, make: Factory): Promise<{ cpu: number; allocated: number }> {
  globalThis.gc?.()
  const profiler = new v8.GCProfiler()
  profiler.start()
  const used0 = v8.getHeapStatistics().used_heap_size
  const cpu0 = process.cpuUsage()
  await run(mode, messages, body, make)
  const cpu = process.cpuUsage(cpu0)
  const used1 = v8.getHeapStatistics().used_heap_size
  const { statistics } = profiler.stop()
  // Allocated = what each GC found in use minus what the previous one left, plus the growth since the last.
  let allocated = 0
  let after = used0
  for (const gc of statistics) {
    allocated += gc.beforeGC.heapStatistics.usedHeapSize - after
    after = gc.afterGC.heapStatistics.usedHeapSize
  }
  allocated += used1 - after
  return { cpu: (cpu.user + cpu.system) / messages, allocated: allocated / messages }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string', default: 'kept' },
      messages: { type: 'string', default: '200000' },
      size: { type: 'string', default: '4096' },
      repeat: { type: 'string', default: '5' },
      via: { type: 'string', default: 'server' },
    },
  })
  const mode = values.mode === 'connection' ? 'connection' : 'kept'
  const messages = Number(values.messages)
  const body = message(Number(values.size))
  const make = values.via === 'protocol' ? protocolFactory() : serverFactory()
  // Warm-up, so the JIT has settled before anything is counted.
  await run(mode, Math.min(20000, messages), body, make)
  const results: number[] = []
  for (let i = 0; i < Number(values.repeat); i++) {
    const { cpu, allocated } = await measure(mode, messages, body, make)
    results.push(cpu)
    process.stdout.write(`${mode}: ${cpu.toFixed(2)} µs/msg CPU, ${Math.round(allocated)} octets allocated/msg\n`)
    await new Promise((resolve) => setImmediate(resolve))
  }
  results.sort((a, b) => a - b)
  process.stdout.write(`${mode} median: ${(results[results.length >> 1] ?? 0).toFixed(2)} µs/msg\n`)
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
  process.exit(1)
})
