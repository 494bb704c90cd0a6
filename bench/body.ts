// Large message bodies in memory, with the library's real defaults (lineEndings 'reject', no
// text-line limit): the decoder alone and a whole SmtpProtocol session, for DATA and BDAT, in MB/s.
// Run: npm run build && node dist/bench/body.js [--megabytes 512] [--rounds 5] [--only 'session DATA']

import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { DotDecoder, type LineEndingPolicy } from '../lib/dot-decoder.js'
import { SmtpProtocol, type SmtpTransport } from '../lib/index.js'
import { textMail } from './core.js'

const READ = 64 * 1024 // what a socket read delivers
const MESSAGE = 1024 * 1024

function reads(data: Buffer): Buffer[] {
  const pieces: Buffer[] = []
  for (let at = 0; at < data.length; at += READ) pieces.push(data.subarray(at, at + READ))
  return pieces
}

interface Rules {
  readonly lineEndings: LineEndingPolicy
  readonly maxTextLineLength: number
}

/** The decoder alone; returns the octets decoded. */
function decoderOnly(pieces: Buffer[], length: number, total: number, rules: Rules, dotStuffed: boolean): number {
  const out: Buffer[] = []
  let octets = 0
  while (octets < total) {
    const decoder = new DotDecoder({ ...rules, dotStuffed })
    for (const piece of pieces) {
      decoder.decode(piece, 0, piece.length, out)
      out.length = 0
    }
    if (dotStuffed !== decoder.done || decoder.fault) throw new Error('the benchmark message did not decode cleanly')
    octets += length
  }
  return octets
}

/** A whole in-memory session with a `dataChunk` listener, BDAT one chunk per read; returns the octets. */
function session(message: Buffer, pieces: Buffer[], total: number, rules: Rules, bdat: boolean): number {
  const smtp = new SmtpProtocol({ domain: 'bench.test', maxMessageSize: 0, collectBody: false, ...rules })
  let delivered = 0
  let accepted = 0
  smtp.on('dataChunk', ({ chunk }) => void (delivered += chunk.length))
  smtp.on('message', () => void accepted++)
  const transport: SmtpTransport = { write: () => true, end: () => undefined }
  smtp.open(transport)
  smtp.feed(Buffer.from('EHLO client.test\r\n'))
  const envelope = Buffer.from(`MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\n${bdat ? '' : 'DATA\r\n'}`)
  const input = bdat
    ? reads(message).flatMap((piece, i, all) => [Buffer.from(`BDAT ${piece.length}${i === all.length - 1 ? ' LAST' : ''}\r\n`), piece])
    : pieces
  let octets = 0
  let messages = 0
  while (octets < total) {
    smtp.feed(envelope)
    for (const piece of input) smtp.feed(piece)
    octets += message.length
    messages++
  }
  if (delivered < octets * 0.99 || accepted !== messages) throw new Error(`only ${delivered} of ${octets} octets, ${accepted} of ${messages} messages`)
  return octets
}

/** Runs `run` and returns its MB/s by the wall clock and per second of this process's CPU time. */
function timed(run: () => number): { wall: number; cpu: number; faults: number } {
  const cpu = process.cpuUsage()
  const faults = process.resourceUsage().minorPageFault
  const started = performance.now()
  const octets = run()
  const used = process.cpuUsage(cpu)
  return {
    wall: octets / 1e6 / ((performance.now() - started) / 1000),
    cpu: octets / 1e6 / ((used.user + used.system) / 1e6),
    // Fresh memory from the kernel, per MB: what allocation churn costs beyond the copying.
    faults: (process.resourceUsage().minorPageFault - faults) / (octets / 1e6),
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? 0
}

function main(megabytes: number, rounds: number, only: string | undefined): void {
  const message = textMail(MESSAGE)
  const pieces = reads(Buffer.concat([message, Buffer.from('.\r\n')]))
  const total = megabytes * 1e6
  const cases: [string, (n: number) => number][] = []
  const rulesets: [string, Rules][] = [
    ['reject', { lineEndings: 'reject', maxTextLineLength: 0 }],
    ['normalize', { lineEndings: 'normalize', maxTextLineLength: 0 }],
    ['keep', { lineEndings: 'keep', maxTextLineLength: 0 }],
    ['reject+1000', { lineEndings: 'reject', maxTextLineLength: 1000 }],
  ]
  const bdatPieces = reads(message)
  for (const [name, rules] of rulesets) {
    cases.push([`decoder DATA ${name}`, (n) => decoderOnly(pieces, message.length, n, rules, true)])
    cases.push([`decoder BDAT ${name}`, (n) => decoderOnly(bdatPieces, message.length, n, rules, false)])
    cases.push([`session DATA ${name}`, (n) => session(message, pieces, n, rules, false)])
    cases.push([`session BDAT ${name}`, (n) => session(message, pieces, n, rules, true)])
  }
  if (only !== undefined) cases.splice(0, cases.length, ...cases.filter(([name]) => name.includes(only)))
  // Warm-up: the JIT, and the allocator settling on the batch sizes.
  for (const [, run] of cases) run(256e6)
  const results = new Map<string, { wall: number; cpu: number; faults: number }[]>(cases.map(([name]) => [name, []]))
  // Rounds interleave the cases, so a noisy neighbour spreads over all of them.
  for (let round = 0; round < rounds; round++) for (const [name, run] of cases) results.get(name)?.push(timed(() => run(total)))
  console.log(`bench/body: ${megabytes} MB of text mail per run in ${READ / 1024} KiB reads, median of ${rounds}`)
  console.log(`  ${''.padEnd(28)}   MB/s wall   MB per CPU s   page faults per MB   (wall of each run)`)
  for (const [name, values] of results) {
    const shown = values.map((v) => v.wall.toFixed(0)).join(' ')
    const wall = median(values.map((v) => v.wall)).toFixed(0)
    const cpu = median(values.map((v) => v.cpu)).toFixed(0)
    const faults = median(values.map((v) => v.faults)).toFixed(1)
    console.log(`  ${name.padEnd(28)} ${wall.padStart(10)} ${cpu.padStart(14)} ${faults.padStart(20)}   (${shown})`)
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: { megabytes: { type: 'string', default: '512' }, rounds: { type: 'string', default: '5' }, only: { type: 'string' } },
    strict: true,
  })
  main(Number(values.megabytes), Number(values.rounds), values.only)
}
