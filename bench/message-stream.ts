// What messageStream() costs over the bare `dataChunk` primitive, and what it holds: MB/s of whole
// in-memory DATA transactions into a consumer that drops the bytes, fast and slow, and the most
// octets the session plus the body stream held at once. Prints figures; asserts nothing.
// Run: npm run build && node dist/bench/message-stream.js [--megabytes 512]

import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { messageStream, SmtpProtocol, type SmtpTransport } from '../lib/index.js'
import { textMail } from './core.js'

const READ = 64 * 1024 // what a socket read delivers
const MESSAGE = 8 * 1024 * 1024

type Mode = 'dataChunk' | 'messageStream' | 'messageStream, slow consumer'

/** Sends `count` messages through one in-memory session, a read at a time while it is not paused. */
async function run(mode: Mode, message: Buffer, count: number): Promise<{ seconds: number; peak: number }> {
  const smtp = new SmtpProtocol({ domain: 'mx.bench', maxMessageSize: 0 })
  let body: { readableLength: number } | null = null
  if (mode === 'dataChunk') {
    smtp.on('dataChunk', () => undefined)
  } else {
    const slow = mode !== 'messageStream'
    messageStream(smtp, async (stream) => {
      body = stream
      // The slow consumer takes each chunk a macrotask later, as a disk or an upload would.
      const sink = new Writable({ write: (_chunk, _encoding, done) => (slow ? setImmediate(done) : done()) })
      await pipeline(stream, sink)
    })
  }
  let paused = false
  let replies = 0
  let wake: (() => void) | null = null
  const transport: SmtpTransport = {
    write: (chunk) => {
      replies += chunk.toString().split('\r\n').length - 1
      wake?.()
      return true
    },
    end: () => undefined,
    pause: () => void (paused = true),
    resume: () => {
      paused = false
      wake?.()
    },
  }
  smtp.open(transport)
  smtp.feed(Buffer.from('EHLO bench\r\n'))
  const data = Buffer.concat([message, Buffer.from('.\r\n')])
  let peak = 0
  const started = performance.now()
  for (let n = 0; n < count; n++) {
    const before = replies
    smtp.feed(Buffer.from('MAIL FROM:<a@bench>\r\nRCPT TO:<b@bench>\r\nDATA\r\n'))
    for (let at = 0; at < data.length; ) {
      if (paused) await new Promise<void>((resolve) => (wake = resolve))
      else {
        smtp.feed(data.subarray(at, at + READ))
        at += READ
      }
      peak = Math.max(peak, smtp.bufferedInput + ((body as { readableLength: number } | null)?.readableLength ?? 0))
    }
    // MAIL, RCPT, DATA's 354 and the message's 250.
    while (replies < before + 4) await new Promise<void>((resolve) => (wake = resolve))
  }
  return { seconds: (performance.now() - started) / 1000, peak }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { megabytes: { type: 'string', default: '512' } }, strict: true })
  const message = textMail(MESSAGE)
  const count = Math.max(1, Math.round((Number(values.megabytes) * 1024 * 1024) / message.length))
  process.stdout.write(`${count} messages of ${(message.length / 1048576).toFixed(1)} MiB each, read ${READ / 1024} KiB at a time\n`)
  // Two rounds, interleaved, so a noisy machine shows as a spread rather than a false ranking.
  for (const round of [1, 2]) {
    for (const mode of ['dataChunk', 'messageStream', 'messageStream, slow consumer'] as const) {
      await run(mode, message, 1) // warm-up
      const { seconds, peak } = await run(mode, message, count)
      const rate = (count * message.length) / 1048576 / seconds
      const label = `${mode} (round ${round})`
      process.stdout.write(`${label.padEnd(40)} ${rate.toFixed(0).padStart(6)} MB/s   at most ${(peak / 1024).toFixed(0)} KiB held\n`)
    }
  }
}

await main()
